import { chmod, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkspaceTool, type ToolContext } from '../../activities/agents/tools';

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
