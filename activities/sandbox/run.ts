/**
 * Runs one command from a run's branch under bubblewrap: its own namespaces (no network unless
 * asked), a user with no privileges, only the worktree writable, an empty environment plus an
 * allow-list, resource limits, a capped output tail, a heartbeat, and a timeout after which
 * nothing of it survives. Process trouble never throws: it comes back as a failed result.
 */
import { execFile, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import { constants } from 'node:os';
import { promisify } from 'node:util';
import { sandboxLimitsSchema, type SandboxLimits } from '../../config/sandbox';
import { locateBubblewrap } from './locate';
import { bwrapArgs, hostSystemLayout, type HostEntry } from './bwrapArgs';
import { OutputTail } from './output';
import { signalGroup } from './processGroup';

const run = promisify(execFile);

export interface SandboxedCommand {
  /** A shell command line, run with `sh -c` inside the sandbox. */
  command: string;
  /** The run's worktree: the only writable host folder, mounted at the same path. */
  worktree: string;
  /** Where the command starts; inside the worktree. */
  cwd: string;
  /** The command's whole environment besides PATH, HOME (/tmp) and LANG: an explicit allow-list, never secrets. */
  env?: Record<string, string>;
  network: boolean;
  timeoutMs: number;
  outputCapBytes: number;
  /** Host folders mounted read-only at the same path (toolchains, language caches). */
  readOnlyMounts?: string[];
  /** Folders mounted writable at the same path (language caches); handed to the sandbox user like the worktree. */
  cacheMounts?: string[];
  limits?: Partial<SandboxLimits>;
  /** Who the command runs as when Slipway is root (default nobody, 65534). */
  user?: { uid: number; gid: number };
  onHeartbeat?: (elapsedMs: number) => void;
  heartbeatMs?: number;
  /** Aborting kills the sandbox (e.g. the activity's cancellation signal). */
  signal?: AbortSignal;
  /** Called with bwrap's pid once it runs; the sandbox is that process group. */
  onStart?: (pid: number) => void;
}

export interface SandboxResult {
  /** The command's exit code (128 + n when signal n ended it); null when it never ran or was killed. */
  code: number | null;
  /** The signal that ended the command or the sandbox, if any. */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The output's tail (stdout and stderr interleaved), at most `outputCapBytes`. */
  output: string;
  truncated: boolean;
  ms: number;
  /** Why the sandbox itself failed (setup, spawn, killed from outside, cancelled); undefined when the command ran to its end. */
  error?: string;
}

export const NOBODY = { uid: 65534, gid: 65534 };
const STATUS_FD = 3;
/** After a kill, how long to wait for the pipes to close before giving up on them. */
const REAP_GRACE_MS = 5_000;
const BASE_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' };
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FORBIDDEN_MOUNTS = ['/proc', '/sys', '/dev'];

/**
 * Launches bwrap from its own folder with every inherited descriptor but 0-3 closed and an empty
 * environment. `/proc/self/cwd` reaches the binary even when the sandbox user cannot traverse the
 * folders above it (the tool cache is under root's home); `exec -c` starts bwrap with no variables.
 */
const LAUNCHER = `for f in /proc/$$/fd/*; do n=\${f##*/}; if [ "$n" -gt ${STATUS_FD} ] 2>/dev/null; then eval "exec $n>&-"; fi; done; exec -c /proc/self/cwd/bwrap "$@"`;

let bwrapBinary: Promise<string | undefined> | undefined;
let hostLayout: Promise<HostEntry[]> | undefined;

/** The bwrap this process uses (found once; installing is start-up's job, see scripts/bubblewrap.ts). */
export function bubblewrapBinary(refresh = false): Promise<string | undefined> {
  if (refresh || bwrapBinary === undefined) bwrapBinary = locateBubblewrap();
  return bwrapBinary;
}

const isRoot = () => process.getuid?.() === 0;

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && rel.split(sep)[0] !== '..');
}

/** The first folder above `path` that `uid`/`gid` (no other groups) cannot search, if any. */
export async function unsearchableAncestor(path: string, uid: number, gid: number): Promise<string | undefined> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const info = await stat(dir);
    const bit = info.uid === uid ? 0o100 : info.gid === gid ? 0o010 : 0o001;
    if ((info.mode & bit) === 0) return dir;
    if (dir === dirname(dir)) return undefined;
  }
}

function validate(options: SandboxedCommand): string | undefined {
  if (!isAbsolute(options.worktree)) return `the worktree must be an absolute path (got ${options.worktree})`;
  if (!inside(options.worktree, resolve(options.worktree, options.cwd))) return `cwd ${options.cwd} is outside the worktree ${options.worktree}`;
  if (options.command.includes('\0')) return 'the command contains a NUL byte';
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!ENV_NAME.test(name) || value.includes('\0')) return `environment variable ${JSON.stringify(name)} is not a valid name=value`;
  }
  for (const mount of [...(options.readOnlyMounts ?? []), ...(options.cacheMounts ?? [])]) {
    const path = normalize(mount);
    if (!isAbsolute(path) || path === '/' || FORBIDDEN_MOUNTS.some((f) => inside(f, path)) || inside(path, options.worktree) || inside(options.worktree, path)) {
      return `mount ${mount} is refused: give an absolute folder that is not /, /proc, /sys, /dev, or above or below the worktree`;
    }
  }
  return undefined;
}

function signalOf(code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128) return null;
  const entry = Object.entries(constants.signals).find(([, n]) => n === code - 128);
  return (entry?.[0] as NodeJS.Signals | undefined) ?? null;
}

export async function runSandboxed(options: SandboxedCommand): Promise<SandboxResult> {
  const started = performance.now();
  const failed = (error: string, output = ''): SandboxResult => ({ code: null, signal: null, timedOut: false, output, truncated: false, ms: Math.round(performance.now() - started), error });

  const invalid = validate(options);
  if (invalid !== undefined) return failed(invalid);
  const bwrap = await bubblewrapBinary();
  if (bwrap === undefined) return failed('bubblewrap (bwrap) is not installed: run scripts/bubblewrap.ts at start-up');
  const user = options.user ?? NOBODY;
  const limits = sandboxLimitsSchema.parse(options.limits ?? {});
  const worktree = normalize(options.worktree);

  // As root, the command runs as `user` on the host too (not just inside its namespace), so it owns the worktree and nothing else.
  const switchUser = isRoot();
  if (switchUser) {
    const blocked = await unsearchableAncestor(worktree, user.uid, user.gid).catch((err: Error) => err.message);
    if (blocked !== undefined) return failed(`the sandbox user ${user.uid} cannot reach the worktree: ${blocked} is not searchable by it (chmod o+x ${blocked}, or keep worktrees under a folder it can traverse)`);
    try {
      // coreutils walks with openat and O_NOFOLLOW: a symlink in the worktree is never followed out.
      await run('chown', ['-R', '-P', `${user.uid}:${user.gid}`, '--', worktree, ...(options.cacheMounts ?? []).map((m) => normalize(m))], { timeout: 5 * 60_000, env: { PATH: '/usr/bin:/bin' } });
    } catch (err) {
      return failed(`could not hand the worktree to the sandbox user: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
    }
  }

  hostLayout ??= hostSystemLayout();
  const args = bwrapArgs(
    {
      worktree,
      cwd: resolve(worktree, options.cwd),
      network: options.network,
      uid: user.uid,
      gid: user.gid,
      env: { ...BASE_ENV, ...options.env },
      readOnlyMounts: (options.readOnlyMounts ?? []).map((m) => normalize(m)),
      cacheMounts: (options.cacheMounts ?? []).map((m) => normalize(m)),
      limits,
      command: options.command,
      statusFd: STATUS_FD,
    },
    await hostLayout,
  );

  return new Promise<SandboxResult>((resolvePromise) => {
    const output = new OutputTail(options.outputCapBytes);
    let status = '';
    let timedOut = false;
    let settled = false;
    let killedBy: string | undefined;
    const timers: NodeJS.Timeout[] = [];

    const child = spawn('/bin/bash', ['-c', LAUNCHER, 'slipway-bwrap', ...args], {
      cwd: dirname(bwrap),
      env: {},
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      ...(switchUser ? { uid: user.uid, gid: user.gid } : {}),
    });

    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const exit = /"exit-code":\s*(\d+)/.exec(status);
      const commandCode = exit?.[1] !== undefined ? Number(exit[1]) : null;
      const text = output.text();
      const base = { timedOut, output: text, truncated: output.truncated, ms: Math.round(performance.now() - started) };
      if (timedOut) return resolvePromise({ ...base, code: null, signal: 'SIGKILL' });
      if (killedBy !== undefined) return resolvePromise({ ...base, code: null, signal, error: killedBy });
      if (commandCode !== null) return resolvePromise({ ...base, code: commandCode, signal: signalOf(commandCode) });
      // bwrap ended without reporting the command's exit: it failed to set up, or was killed from outside.
      const reason = signal !== null ? `the sandbox was killed by ${signal} from outside` : `the sandbox failed to start (bwrap exited ${code})`;
      return resolvePromise({ ...base, code: null, signal, error: reason });
    };

    const kill = (why: 'timeout' | string) => {
      if (why === 'timeout') timedOut = true;
      else killedBy ??= why;
      // bwrap and the sandbox's pid 1 are this group; when pid 1 dies the kernel kills the whole PID namespace.
      signalGroup(child.pid);
      // Pipes held by something unkillable must not hold the worker: settle after a grace period regardless.
      timers.push(
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          child.stdio[STATUS_FD]?.destroy();
          finish(null, 'SIGKILL');
        }, REAP_GRACE_MS),
      );
    };
    const onAbort = () => kill('cancelled');

    child.on('error', (err) => {
      // spawn failures (ENOENT, EPERM, EAGAIN) arrive here instead of being thrown.
      killedBy ??= `could not start bwrap: ${err.message}`;
      finish(null, null);
    });
    child.stdout?.on('data', output.take);
    child.stderr?.on('data', output.take);
    child.stdio[STATUS_FD]?.on('data', (chunk: Buffer) => {
      if (status.length < 64 * 1024) status += chunk.toString();
    });
    for (const stream of [child.stdout, child.stderr, child.stdio[STATUS_FD]]) stream?.on('error', () => undefined);
    child.on('close', (code, signal) => finish(code, signal));

    if (child.pid !== undefined) options.onStart?.(child.pid);
    timers.push(setTimeout(() => kill('timeout'), options.timeoutMs));
    if (options.onHeartbeat !== undefined) {
      const beat = options.onHeartbeat;
      const every = options.heartbeatMs ?? 10_000;
      const tick = () => {
        try {
          beat(Math.round(performance.now() - started));
        } catch {
          // A heartbeat that throws (e.g. the activity was cancelled) must not crash the worker: the signal handles cancellation.
        }
        if (!settled) timers.push(setTimeout(tick, every));
      };
      timers.push(setTimeout(tick, every));
    }
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
