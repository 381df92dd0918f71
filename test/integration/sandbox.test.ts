/**
 * Hostile tests of the command sandbox: each one tries what agent-written code would try
 * (read Slipway's secrets, reach the network, write outside the worktree, outlive its timeout,
 * exhaust the machine) and asserts it fails, that nothing outside the worktree changed, that no
 * secret appears in any output, and that the worker-side call always returns.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShell } from '../../activities/commands/shell';
import pino from 'pino';
import { checkSandbox, requireSandbox, runConfined, runSandboxed, SandboxUnavailable, sandboxStatus, signalGroup, type SandboxedCommand } from '../../activities/sandbox';
import { defaultSandboxSettings } from '../../config/sandbox';

const token = randomBytes(6).toString('hex');
const SECRET = `sk-ant-planted-${randomBytes(12).toString('hex')}`;
let base: string;
let worktree: string;
let outside: string;

/** The sandbox user's processes whose command line carries `marker`: what would survive a sandbox. */
function processesWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((pid) => {
      try {
        return /^Uid:\s+65534\s/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function snapshot(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const info = await stat(join(d, name));
      lines.push(`${join(d, name)} ${info.size} ${info.mtimeMs} ${info.mode}`);
      if (info.isDirectory()) await walk(join(d, name));
    }
  };
  await walk(dir);
  return lines.join('\n');
}

const run = (command: string, options: Partial<SandboxedCommand> = {}) =>
  runSandboxed({ command, worktree, cwd: worktree, network: false, timeoutMs: 10_000, outputCapBytes: 64 * 1024, ...options });

beforeAll(async () => {
  expect(await sandboxStatus()).toMatchObject({ available: true });
  // The planted secret is in the worker's environment, as ANTHROPIC_API_KEY would be.
  process.env.SLIPWAY_TEST_PLANTED_SECRET = SECRET;
  process.env.ANTHROPIC_API_KEY = SECRET;
  base = await mkdtemp(join(tmpdir(), 'slipway-sandbox-'));
  await chmod(base, 0o755);
  worktree = join(base, 'worktree');
  outside = join(base, 'outside');
  await mkdir(worktree);
  await mkdir(outside, { mode: 0o777 });
  await chmod(outside, 0o777); // writable by anyone on the host: only the mount namespace keeps the sandbox out
  await writeFile(join(outside, 'secret.txt'), SECRET);
  await writeFile(join(worktree, 'package.json'), '{"scripts":{"test":"echo tests"}}\n');
});

afterAll(() => {
  delete process.env.SLIPWAY_TEST_PLANTED_SECRET;
  delete process.env.ANTHROPIC_API_KEY;
});

test('the command runs as nobody, without capabilities, in the worktree, and can write there', async () => {
  const result = await run('id -u; id -g; grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; pwd; echo built > out.txt; hostname');
  expect(result).toMatchObject({ code: 0, timedOut: false });
  expect(result.error).toBeUndefined();
  expect(result.output).toBe(`65534\n65534\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n${worktree}\nslipway-sandbox\n`);
  expect(readFileSync(join(worktree, 'out.txt'), 'utf8')).toBe('built\n');
  // On the host too the file belongs to the sandbox user, not to root.
  expect((await stat(join(worktree, 'out.txt'))).uid).toBe(65534);
});

test("no secret of the worker's environment is reachable: not in env, nor in any /proc/*/environ or cmdline", async () => {
  const result = await run(
    [
      'env',
      'echo "--- /proc/1/environ"; cat /proc/1/environ',
      'echo "--- /proc/self/environ"; cat /proc/self/environ',
      'echo "--- /proc/$PPID/environ"; cat /proc/$PPID/environ',
      `echo "--- worker"; cat /proc/${process.pid}/environ /proc/${process.ppid}/environ`,
      'echo "--- all"; for p in /proc/[0-9]*; do cat $p/environ $p/cmdline; done',
      `cat ${join(outside, 'secret.txt')} /root/.bash_history /etc/shadow`,
      'echo "--- ps"; ps -eo pid,user,args',
    ].join('; '),
    { env: { SLIPWAY_RUN: 'run-1' } },
  );
  expect(result.error).toBeUndefined();
  expect(result.output).not.toContain(SECRET);
  expect(result.output).not.toContain('SLIPWAY_TEST_PLANTED_SECRET');
  // The environment is exactly the allow-list (sh adds PWD and SHLVL).
  const env = result.output.split('--- /proc/1/environ')[0]?.trim().split('\n').map((l) => l.split('=')[0]).sort();
  expect(env).toEqual(['HOME', 'LANG', 'PATH', 'PWD', 'SHLVL', 'SLIPWAY_RUN']);
  // bwrap itself (pid 1 in the sandbox) was started with an empty environment.
  expect(result.output).toMatch(/--- \/proc\/1\/environ\n--- \/proc\/self\/environ/);
  // The worker's processes are not visible: only bwrap's pid 1 and the command's own.
  expect(result.output).toMatch(/No such file or directory/);
  const ps = result.output.split('--- ps\n')[1] ?? '';
  expect(ps.trim().split('\n').slice(1).every((line) => /^\s*\d+ nobody /.test(line))).toBe(true);
});

test('no network: a TCP server and a UDP (DNS-style) listener on the host loopback are unreachable, while --share-net reaches them', async () => {
  const connections: string[] = [];
  const tcp = createServer((socket) => {
    connections.push('tcp');
    socket.end('hello from the host\n');
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const udp = createSocket('udp4');
  udp.on('message', () => connections.push('udp'));
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const tcpPort = (tcp.address() as AddressInfo).port;
  const udpPort = udp.address().port;
  const probe = `bash -c 'cat < /dev/tcp/127.0.0.1/${tcpPort}' ; bash -c 'echo query > /dev/udp/127.0.0.1/${udpPort}'; getent ahosts example.com || echo "dns failed"`;
  try {
    const closed = await run(probe);
    expect(closed.output).toContain('Connection refused');
    expect(closed.output).toContain('dns failed');
    expect(closed.output).not.toContain('hello from the host');
    await new Promise((r) => setTimeout(r, 200));
    expect(connections).toEqual([]);

    const open = await run(probe, { network: true });
    expect(open.output).toContain('hello from the host');
    await new Promise((r) => setTimeout(r, 200));
    expect(connections.sort()).toEqual(['tcp', 'udp']);
  } finally {
    tcp.close();
    udp.close();
  }
});

test('writes outside the worktree fail or land in the private /tmp: home, host /tmp, the repository, system folders', async () => {
  const before = await snapshot(outside);
  const result = await run(
    [
      `touch ${join(outside, `pwned-${token}`)}`,
      `echo x >> ${join(outside, 'secret.txt')}`,
      `touch /tmp/escape-${token} && echo "tmp write stayed inside"`,
      `touch /root/escape-${token}`,
      `touch /usr/escape-${token}`,
      `touch /etc/escape-${token}`,
      `ln -s ${outside} link && touch link/via-symlink-${token}`,
      'mount -t tmpfs none /usr',
      'unshare -U true || echo "no nested user namespace"',
      `cd ${base} && touch ../escape-${token}`,
    ].join('; '),
  );
  expect(result.error).toBeUndefined();
  expect(result.output).toContain('tmp write stayed inside');
  expect(result.output).toContain('no nested user namespace');
  expect(result.output).toMatch(/Read-only file system/);
  expect(await snapshot(outside)).toBe(before);
  for (const path of [`/tmp/escape-${token}`, `/root/escape-${token}`, `/usr/escape-${token}`, `/etc/escape-${token}`, join(tmpdir(), `escape-${token}`), join(outside, `via-symlink-${token}`)]) {
    expect(existsSync(path)).toBe(false);
  }
});

test('a timeout kills everything: forks, double forks, new sessions and processes ignoring SIGTERM', async () => {
  // A unique sleep length marks the sandbox's processes on the host.
  const nap = `300.${Date.now() % 100000}`;
  let seen = 0;
  const sampler = setInterval(() => (seen = Math.max(seen, processesWith(nap).length)), 100);
  const started = Date.now();
  const result = await run(
    `trap "" TERM; (trap "" TERM; sleep ${nap}) & (setsid sh -c "(sleep ${nap} &); sleep ${nap}" &) ; nohup sleep ${nap} >/dev/null 2>&1 & echo started; sleep ${nap}`,
    { timeoutMs: 1500 },
  );
  clearInterval(sampler);
  // The detector saw the sleepers while they ran (the sandbox's command line itself is one of them).
  expect(seen).toBeGreaterThanOrEqual(5);
  expect(result).toMatchObject({ timedOut: true, code: null, signal: 'SIGKILL' });
  expect(result.output).toBe('started\n');
  expect(Date.now() - started).toBeLessThan(5_000);
  // Nothing of the sandbox is left on the host.
  await new Promise((r) => setTimeout(r, 200));
  expect(processesWith(nap)).toEqual([]);
});

test('a command that exits leaves no orphan behind, and the call does not wait for one holding its output', async () => {
  const nap = `301.${Date.now() % 100000}`;
  const started = Date.now();
  const result = await run(`(setsid sleep ${nap} &) ; (sleep ${nap} &) ; echo parent done`);
  expect(result).toMatchObject({ code: 0, timedOut: false, output: 'parent done\n' });
  expect(Date.now() - started).toBeLessThan(3_000);
  await new Promise((r) => setTimeout(r, 200));
  expect(processesWith(nap)).toEqual([]);
});

test('a fork bomb hits the process limit, and nothing of it outlives the call', async () => {
  const bomb = `bomb_${token}`;
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, processesWith(bomb).length);
  }, 50);
  const started = Date.now();
  // Every process loops forking two more and waiting for them: processes pile up until fork fails.
  const result = await run(`${bomb}() { while :; do ${bomb} & ${bomb} & wait; done; }; ${bomb}`, { timeoutMs: 2_000, limits: { processes: 64 } });
  clearInterval(sampler);
  expect(Date.now() - started).toBeLessThan(8_000);
  expect(result.output).toContain('Cannot fork');
  // The kernel held the sandbox user to RLIMIT_NPROC (with 400 allowed the same bomb reaches about 390).
  // A /proc scan is not atomic (a process can exit and its child appear within one scan), so allow a little over 64.
  expect(peak).toBeGreaterThan(10);
  expect(peak).toBeLessThanOrEqual(72);
  await new Promise((r) => setTimeout(r, 300));
  expect(processesWith(bomb)).toEqual([]);
});

test('memory, file size and CPU limits stop a command, with the signal the kernel sent', async () => {
  const memory = await run(`node -e "const a=[]; for(;;) a.push(Buffer.alloc(1<<20).fill(1))"`, { limits: { memoryBytes: 256 * 1024 * 1024 } });
  expect(memory.code).not.toBe(0);
  expect(memory.timedOut).toBe(false);
  const file = await run('head -c 20000000 /dev/zero > big.bin', { limits: { fileSizeBytes: 1024 * 1024 } });
  expect(file).toMatchObject({ code: 153, signal: 'SIGXFSZ' });
  expect((await stat(join(worktree, 'big.bin'))).size).toBe(1024 * 1024);
  const cpu = await run('while :; do :; done', { limits: { cpuSeconds: 1 }, timeoutMs: 10_000 });
  expect(cpu).toMatchObject({ code: 152, signal: 'SIGXCPU', timedOut: false });
});

test('huge outputs are cut to their tail and never held whole', async () => {
  const result = await run('head -c 30000000 /dev/zero | tr "\\0" x; echo; echo the end', { outputCapBytes: 1000 });
  expect(result).toMatchObject({ code: 0, truncated: true });
  expect(result.output.length).toBeLessThanOrEqual(1000);
  expect(result.output.endsWith('x\nthe end\n')).toBe(true);
  const endless = await run('yes', { outputCapBytes: 500, timeoutMs: 1_000 });
  expect(endless).toMatchObject({ timedOut: true, truncated: true });
  expect(endless.output.length).toBeLessThanOrEqual(500);
});

test("killing one sandbox's process group from outside fails that call cleanly while a sandbox started with it completes", async () => {
  let victim: number | undefined;
  const killed = run('echo started; sleep 30', { onStart: (pid) => (victim = pid) });
  const survivor = run('sleep 1; echo survivor done');
  await new Promise((r) => setTimeout(r, 300));
  expect(victim).toBeDefined();
  process.kill(-(victim as number), 'SIGKILL');
  const [a, b] = await Promise.all([killed, survivor]);
  expect(a).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: false, error: 'the sandbox was killed by SIGKILL from outside' });
  expect(b).toMatchObject({ code: 0, output: 'survivor done\n' });
  expect(b.error).toBeUndefined();
  // A group that is already gone: signalling it again is not an error (ESRCH used to crash the worker).
  expect(signalGroup(victim)).toBe(false);
});

test('a timeout that fires after the process group is gone (ESRCH) resolves instead of crashing the worker', async () => {
  // Unsandboxed runShell (sandbox: none): the shell exits at once, a grandchild in its own session keeps the pipe open.
  const result = await runShell('setsid sleep 2 & exit 0', { cwd: worktree, timeoutMs: 300, outputCapBytes: 100 });
  expect(result.timedOut).toBe(true);
});

test('setup failures, bad input and cancellation come back as results, never as throws', async () => {
  expect(await run('true', { cwd: join(worktree, 'missing') })).toMatchObject({ code: null, error: expect.stringMatching(/^the sandbox failed to start/) });
  expect(await run('true', { cwd: '/etc' })).toMatchObject({ code: null, error: expect.stringMatching(/outside the worktree/) });
  expect(await run('true', { readOnlyMounts: ['/'] })).toMatchObject({ error: expect.stringMatching(/mount \/ is refused/) });
  expect(await run('true', { env: { 'BAD=NAME': 'x' } })).toMatchObject({ error: expect.stringMatching(/not a valid name=value/) });
  const hidden = await mkdtemp(join(base, 'private-'));
  await chmod(hidden, 0o700);
  await mkdir(join(hidden, 'wt'));
  expect(await run('true', { worktree: join(hidden, 'wt'), cwd: join(hidden, 'wt') })).toMatchObject({ error: expect.stringMatching(/cannot reach the worktree: .*private-.* is not searchable/) });
  const abort = new AbortController();
  const cancelled = run('sleep 30', { signal: abort.signal });
  setTimeout(() => abort.abort(), 200);
  expect(await cancelled).toMatchObject({ code: null, error: 'cancelled' });
});

test('heartbeats beat while a command runs; a heartbeat that throws does not break the call', async () => {
  const beats: number[] = [];
  const result = await run('sleep 1.2; echo ok', {
    heartbeatMs: 200,
    onHeartbeat: (ms) => {
      beats.push(ms);
      if (beats.length === 2) throw new Error('activity cancelled');
    },
  });
  expect(result).toMatchObject({ code: 0, output: 'ok\n' });
  expect(beats.length).toBeGreaterThanOrEqual(4);
});

test('no sandbox, no run: without a working bwrap, commands and agents refuse with SandboxUnavailable; sandbox: none runs them and warns each time', async () => {
  const saved = { PATH: process.env.PATH, SLIPWAY_CACHE_DIR: process.env.SLIPWAY_CACHE_DIR };
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
  const settings = defaultSandboxSettings();
  const command = { command: 'id -u', worktree, cwd: worktree, network: false, timeoutMs: 5_000, outputCapBytes: 100 };
  try {
    // A machine without bubblewrap: nothing on PATH, an empty tool cache.
    process.env.PATH = '/nonexistent';
    process.env.SLIPWAY_CACHE_DIR = await mkdtemp(join(base, 'no-cache-'));
    const status = await checkSandbox(settings, logger);
    expect(status).toEqual({ available: false, reason: expect.stringMatching(/bwrap is not installed/) });
    const refused = await runConfined(settings, command).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SandboxUnavailable);
    expect(refused).toMatchObject({ type: 'SandboxUnavailable', nonRetryable: true, message: expect.stringMatching(/must run under bubblewrap, and it cannot run here: bwrap is not installed/) });
    await expect(requireSandbox(settings, logger, 'the implementer of run r')).rejects.toBeInstanceOf(SandboxUnavailable);

    const none = { ...settings, mode: 'none' as const };
    process.env.PATH = saved.PATH;
    expect((await runConfined(none, command, logger)).output).toBe(`${process.getuid?.()}\n`);
    await requireSandbox(none, logger, 'the implementer of run r');
    expect(warnings.filter((w) => w.includes('SANDBOX DISABLED'))).toHaveLength(2);
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.SLIPWAY_CACHE_DIR === undefined) delete process.env.SLIPWAY_CACHE_DIR;
    else process.env.SLIPWAY_CACHE_DIR = saved.SLIPWAY_CACHE_DIR;
    expect(await sandboxStatus({ refresh: true })).toMatchObject({ available: true });
  }
});

test('npm test from the branch runs its package.json script inside the sandbox, not as the worker', async () => {
  await writeFile(join(worktree, 'package.json'), JSON.stringify({ scripts: { test: 'id -u; cat /proc/1/environ; env | grep -c ^ANTHROPIC_API_KEY= || true' } }));
  const result = await run('npm test --silent', { timeoutMs: 30_000 });
  expect(result.code).toBe(0);
  expect(result.output.trim().split('\n')).toEqual(['65534', '0']);
  expect(result.output).not.toContain(SECRET);
});
