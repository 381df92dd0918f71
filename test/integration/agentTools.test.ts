import { execFileSync, spawn } from 'node:child_process';
import { chmod, link, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkResultPaths, runWorkspaceTool, type ToolContext } from '../../activities/agents/tools';

let ctx: ToolContext;
let outside: string;

beforeEach(async () => {
  const root = await mkdtemp(join(tmpdir(), 'slipway-tools-'));
  await chmod(root, 0o755);
  outside = await mkdtemp(join(tmpdir(), 'slipway-outside-'));
  await writeFile(join(outside, 'secret.txt'), 'do not read');
  await mkdir(join(root, 'src'));
  await writeFile(join(root, 'src', 'a.ts'), 'export const a = 1;\nexport const b = 1;\n');
  await symlink(outside, join(root, 'escape'));
  await symlink(join(outside, 'secret.txt'), join(root, 'secret-link'));
  ctx = { root, maxFileBytes: 1024, commands: ['echo tests passed', 'sleep 5', 'yes | head -c 100000'], commandTimeoutMs: 500, outputCapBytes: 200 };
});

const tool = (name: string, input: unknown) => runWorkspaceTool(ctx, name, input);

test('view, create, replace, insert and search work inside the worktree', async () => {
  expect(await tool('view', { path: '.' })).toEqual({ ok: true, text: 'escape@\nsecret-link@\nsrc/' });
  expect((await tool('view', { path: 'src/a.ts', start_line: 2 })).text).toBe('    2\texport const b = 1;\n    3\t');
  expect(await tool('create_file', { path: 'docs/new.md', content: '# new\n' })).toEqual({ ok: true, text: 'created docs/new.md' });
  expect(await tool('str_replace', { path: 'src/a.ts', old_str: 'const b = 1', new_str: 'const b = 2' })).toMatchObject({ ok: true });
  expect(await tool('insert', { path: 'src/a.ts', insert_line: 0, text: '// header' })).toMatchObject({ ok: true });
  expect(await readFile(join(ctx.root, 'src/a.ts'), 'utf8')).toBe('// header\nexport const a = 1;\nexport const b = 2;\n');
  expect((await tool('search', { pattern: 'const \\w = \\d' })).text).toBe('src/a.ts:2: export const a = 1;\nsrc/a.ts:3: export const b = 2;');
});

test.each([
  ['a parent path', 'view', { path: '../x' }, /outside the workspace/],
  ['an absolute path', 'view', { path: '/etc/passwd' }, /absolute paths are refused/],
  ['a symlinked folder out', 'view', { path: 'escape/secret.txt' }, /^escape is a symlink: tools never follow symlinks/],
  ['a symlinked file out', 'str_replace', { path: 'secret-link', old_str: 'do', new_str: 'x' }, /^secret-link is a symlink: tools never follow symlinks/],
  ['writing through a symlink', 'create_file', { path: 'escape/new.txt', content: 'x' }, /^escape is a symlink/],
  ['a file over the size cap', 'create_file', { path: 'big.txt', content: 'x'.repeat(2000) }, /over the 1024-byte limit/],
  ['a command not in the allow-list', 'run_command', { command: 'cat /etc/passwd' }, /command not allowed: cat \/etc\/passwd\. Allowed: echo tests passed \| sleep 5/],
  ['an unknown tool', 'rm_rf', { path: '.' }, /unknown tool rm_rf/],
  ['bad input', 'view', { nope: 1 }, /invalid input for view/],
])('%s is refused as a tool error', async (_name, name, input, message) => {
  const result = await tool(name, input);
  expect(result.ok).toBe(false);
  expect(result.text).toMatch(message);
});

test('a string that is not unique is refused, listing where it occurs', async () => {
  const result = await tool('str_replace', { path: 'src/a.ts', old_str: '= 1', new_str: '= 3' });
  expect(result).toEqual({ ok: false, text: 'old_str is not unique in src/a.ts: it occurs 2 times, at lines 1, 2; include more context' });
});

test('allowed commands run with a timeout and a capped output', async () => {
  expect(await tool('run_command', { command: 'echo tests passed' })).toEqual({ ok: true, text: 'exit code 0\ntests passed\n' });
  const slow = await tool('run_command', { command: 'sleep 5' });
  expect(slow.text).toMatch(/^timed out after 500 ms/);
  const loud = await tool('run_command', { command: 'yes | head -c 100000' });
  expect(loud.text).toMatch(/^exit code 0\n\(output cut to its last 200 bytes\)\n/);
  expect(loud.text.length).toBeLessThan(300);
});

describe('hostile inputs', () => {
  const outsideUnchanged = async () => {
    expect((await readdir(outside)).sort()).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('do not read');
  };

  test('a dangling symlink is never written through, whatever the tool', async () => {
    await symlink(join(outside, 'planted.txt'), join(ctx.root, 'dangling'));
    await symlink(join(outside, 'deeper', 'planted.txt'), join(ctx.root, 'src', 'dangling'));
    for (const [name, input] of [
      ['create_file', { path: 'dangling', content: 'x' }],
      ['create_file', { path: 'src/dangling', content: 'x' }],
      ['str_replace', { path: 'dangling', old_str: 'a', new_str: 'b' }],
      ['insert', { path: 'dangling', insert_line: 0, text: 'x' }],
      ['view', { path: 'dangling' }],
    ] as const) {
      const result = await tool(name, input);
      expect(result).toEqual({ ok: false, text: expect.stringMatching(/is a symlink: tools never follow symlinks/) });
    }
    await outsideUnchanged();
  });

  test('symlinked parents are refused at any depth, even when they point inside the worktree', async () => {
    await mkdir(join(ctx.root, 'src', 'real'));
    await symlink(outside, join(ctx.root, 'src', 'deep'));
    await symlink(join(ctx.root, 'src', 'real'), join(ctx.root, 'inner'));
    expect((await tool('create_file', { path: 'src/deep/x/y.txt', content: 'x' })).text).toBe('src/deep is a symlink: tools never follow symlinks (one could lead outside the workspace)');
    expect((await tool('create_file', { path: 'inner/z.txt', content: 'x' })).text).toMatch(/^inner is a symlink/);
    expect((await tool('search', { pattern: 'read', path: 'escape' })).text).toMatch(/^escape is a symlink/);
    // The search walk itself skips symlinks instead of following them out.
    expect((await tool('search', { pattern: 'do not read' })).text).toBe('no matches');
    await outsideUnchanged();
  });

  test('swapping a folder for a symlink during tool calls never lets a write or read escape (≥1,000 tries each)', async () => {
    // The racer: `race` flips between a real folder in the worktree and a symlink to the outside folder, as fast as it can.
    await mkdir(join(ctx.root, 'race.dir'));
    await writeFile(join(ctx.root, 'race.dir', 'file.txt'), 'INSIDE\n');
    await writeFile(join(outside, 'file.txt'), 'OUTSIDE\n');
    await symlink(outside, join(ctx.root, 'race.link'));
    const outsideFile = await stat(join(outside, 'file.txt'));
    const racer = spawn(
      process.execPath,
      ['-e', `const fs = require('fs'); process.chdir(${JSON.stringify(ctx.root)}); for (;;) { for (const from of ['race.dir', 'race.link']) { try { fs.renameSync(from, 'race'); fs.renameSync('race', from); } catch {} } }`],
      { stdio: 'ignore' },
    );
    const outcomes = { written: 0, refused: 0, read: 0 };
    try {
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 1000; i++) {
        const created = await tool('create_file', { path: `race/new-${i}.txt`, content: 'x' });
        outcomes[created.ok ? 'written' : 'refused']++;
        const replaced = await tool('str_replace', { path: 'race/file.txt', old_str: 'SIDE', new_str: 'SIDE' });
        outcomes[replaced.ok ? 'written' : 'refused']++;
        const viewed = await tool('view', { path: 'race/file.txt' });
        expect(viewed.text).not.toContain('OUTSIDE');
        expect(viewed.text).not.toContain('do not read');
        if (viewed.ok) outcomes.read++;
      }
    } finally {
      racer.kill('SIGKILL');
    }
    // Both outcomes happened: the race was live, and the tools held.
    expect(outcomes.written).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect((await readdir(outside)).sort()).toEqual(['file.txt', 'secret.txt']);
    expect(await readFile(join(outside, 'file.txt'), 'utf8')).toBe('OUTSIDE\n');
    expect((await stat(join(outside, 'file.txt'))).mtimeMs).toBe(outsideFile.mtimeMs);
  }, 60_000);

  test('.git in any spelling is neither read nor written, and paths the git config points to are never written', async () => {
    await writeFile(join(ctx.root, '.git'), 'gitdir: /somewhere/real\n');
    for (const path of ['.git', '.git/hooks/pre-commit', 'sub/.GIT/config', 'sub/.git./config', 'a/../.git']) {
      expect((await tool('create_file', { path, content: '#!/bin/sh\n' })).text).toMatch(/inside \.git/);
    }
    expect((await tool('view', { path: '.git' })).text).toMatch(/inside \.git/);
    expect(await readFile(join(ctx.root, '.git'), 'utf8')).toBe('gitdir: /somewhere/real\n');
    const guarded = { ...ctx, protectedPaths: ['.husky', 'scripts/clean-filter.sh'] };
    expect((await runWorkspaceTool(guarded, 'create_file', { path: '.husky/pre-commit', content: 'x' })).text).toMatch(/git config points at \.husky/);
    expect((await runWorkspaceTool(guarded, 'create_file', { path: 'scripts/clean-filter.sh', content: 'x' })).text).toMatch(/points at scripts\/clean-filter\.sh/);
    expect((await runWorkspaceTool(guarded, 'create_file', { path: 'scripts/other.sh', content: 'x' })).ok).toBe(true);
  });

  test('FIFOs and hard links are refused without hanging', async () => {
    execFileSync('mkfifo', [join(ctx.root, 'pipe')]);
    await link(join(outside, 'secret.txt'), join(ctx.root, 'hardlink'));
    const started = Date.now();
    expect((await tool('view', { path: 'pipe' })).text).toMatch(/not a regular file/);
    expect((await tool('create_file', { path: 'pipe', content: 'x' })).ok).toBe(false);
    expect((await tool('str_replace', { path: 'hardlink', old_str: 'do', new_str: 'x' })).text).toMatch(/has 2 hard links/);
    expect((await tool('create_file', { path: 'hardlink', content: 'x' })).text).toMatch(/has 2 hard links/);
    expect(Date.now() - started).toBeLessThan(2_000);
    await outsideUnchanged();
  });

  test('every write is capped on the resulting size, every read on the size read', async () => {
    await writeFile(join(ctx.root, 'src', 'big.txt'), 'y'.repeat(2000));
    const before = await readFile(join(ctx.root, 'src', 'a.ts'), 'utf8');
    expect((await tool('str_replace', { path: 'src/a.ts', old_str: 'const a', new_str: `const a${'x'.repeat(1100)}` })).text).toMatch(/the result would be \d+ bytes, over the 1024-byte limit/);
    expect((await tool('insert', { path: 'src/a.ts', insert_line: 0, text: 'z'.repeat(1100) })).text).toMatch(/over the 1024-byte limit/);
    expect(await readFile(join(ctx.root, 'src', 'a.ts'), 'utf8')).toBe(before);
    expect((await tool('view', { path: 'src/big.txt' })).text).toMatch(/2000 bytes, over the 1024-byte limit/);
    expect((await tool('search', { pattern: 'y+' })).text).toBe('no matches');
  });

  test('catastrophic patterns search in linear time; oversized and unsupported patterns are refused', async () => {
    await writeFile(join(ctx.root, 'src', 'evil.txt'), `${'a'.repeat(1000)}!\n`);
    const started = Date.now();
    for (const pattern of ['(a+)+$', '(a|aa)+$', '(a*)*X$', '^(([a-z])+.)+[A-Z]([a-z])+$']) {
      expect((await tool('search', { pattern })).text).toBe('no matches');
    }
    // A backtracking engine needs longer than the age of the universe for these; RE2 a few milliseconds.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await tool('search', { pattern: 'a'.repeat(1001) })).text).toMatch(/over the 1000-character limit/);
    expect((await tool('search', { pattern: '(?<=x)a' })).text).toMatch(/^invalid regular expression \(RE2 syntax/);
    expect((await tool('search', { pattern: '(a)\\1' })).ok).toBe(false);
  });

  test('run_command runs the allow-listed line itself, normalised, in the sandbox without network', async () => {
    expect(await tool('run_command', { command: '  echo tests passed\n' })).toEqual({ ok: true, text: 'exit code 0\ntests passed\n' });
    expect(await tool('run_command', { command: 'echo tests passed\u00a0' })).toEqual({ ok: true, text: 'exit code 0\ntests passed\n' });
    expect((await tool('run_command', { command: 'echo tests passed; id' })).ok).toBe(false);
    expect((await tool('run_command', { command: 'echo tests passed\nid' })).ok).toBe(false);
    expect((await tool('run_command', { command: '' })).ok).toBe(false);
    const server = createServer((socket) => socket.end('reached\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const probe = { ...ctx, commands: ['id -u', `bash -c 'cat < /dev/tcp/127.0.0.1/${port}'`, 'cat /proc/1/environ; env | grep -c ^ANTHROPIC_API_KEY='] };
      expect((await runWorkspaceTool(probe, 'run_command', { command: 'id -u' })).text).toBe('exit code 0\n65534\n');
      expect((await runWorkspaceTool(probe, 'run_command', { command: probe.commands[1] as string })).text).toMatch(/Connection refused/);
      process.env.ANTHROPIC_API_KEY = 'sk-ant-planted-in-the-worker';
      const env = await runWorkspaceTool(probe, 'run_command', { command: probe.commands[2] as string });
      expect(env.text).toBe('exit code 1\n0\n');
    } finally {
      delete process.env.ANTHROPIC_API_KEY;
      server.close();
    }
  });

  test('checkResultPaths accepts only regular files inside the worktree, reached without symlinks', async () => {
    expect(await checkResultPaths(ctx.root, ['src/a.ts'])).toEqual([]);
    const problems = await checkResultPaths(ctx.root, ['../x', '/etc/passwd', 'escape/secret.txt', 'secret-link', '.git/config', 'missing.md', 'src']);
    expect(problems).toEqual([
      '../x is outside the workspace',
      'absolute paths are refused: give a path relative to the repository root (got /etc/passwd)',
      'escape is a symlink: tools never follow symlinks (one could lead outside the workspace)',
      'secret-link is a symlink, not a file',
      '.git/config is inside .git: the repository\'s own files are never read or written by tools',
      'missing.md does not exist',
      'src is a folder, not a file',
    ]);
  });
});
