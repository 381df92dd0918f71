/**
 * The bwrap command line for one sandboxed command: pure, so what the sandbox allows can be read
 * (and tested) in one place.
 */
import { lstat, readlink } from 'node:fs/promises';
import type { SandboxLimits } from '../../config/sandbox';

/** Top-level system folders: a bind when a real folder, the same symlink when merged into /usr. */
const SYSTEM_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** What a program needs from /etc to run, resolve names and trust certificates; no secrets (no shadow, no ssh, no credentials). */
const ETC_ENTRIES = [
  '/etc/alternatives',
  '/etc/ca-certificates',
  '/etc/ca-certificates.conf',
  '/etc/debian_version',
  '/etc/gai.conf',
  '/etc/group',
  '/etc/host.conf',
  '/etc/hosts',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/mime.types',
  '/etc/nsswitch.conf',
  '/etc/os-release',
  '/etc/passwd',
  '/etc/pki',
  '/etc/protocols',
  '/etc/resolv.conf',
  '/etc/services',
  '/etc/ssl',
];

export type HostEntry = { path: string; kind: 'dir'; } | { path: string; kind: 'symlink'; target: string };

/** The host's top-level system folders as they are (merged /usr or not). */
export async function hostSystemLayout(): Promise<HostEntry[]> {
  const entries: HostEntry[] = [];
  for (const path of SYSTEM_DIRS) {
    const info = await lstat(path).catch(() => undefined);
    if (info?.isSymbolicLink()) entries.push({ path, kind: 'symlink', target: await readlink(path) });
    else if (info?.isDirectory()) entries.push({ path, kind: 'dir' });
  }
  return entries;
}

export interface BwrapPlan {
  worktree: string;
  cwd: string;
  network: boolean;
  uid: number;
  gid: number;
  env: Record<string, string>;
  readOnlyMounts: string[];
  /** Language caches mounted writable (handed to the sandbox user), e.g. an npm cache `npm ci --offline` reads. */
  cacheMounts: string[];
  limits: SandboxLimits;
  command: string;
  /** File descriptor bwrap reports the child's pid and exit code on. */
  statusFd: number;
}

/** The shell inside: hard resource limits first (the command cannot raise them), then the command under `sh -c`. */
export function limitedShell(limits: SandboxLimits, command: string): string[] {
  const kib = (bytes: number) => Math.max(1, Math.floor(bytes / 1024));
  const ulimits = [
    // A soft limit below the hard one: SIGXCPU first (the exit code says why), SIGKILL only if that is ignored.
    `ulimit -S -t ${limits.cpuSeconds}`,
    `ulimit -H -t ${limits.cpuSeconds + 5}`,
    `ulimit -d ${kib(limits.memoryBytes)}`,
    `ulimit -u ${limits.processes}`,
    `ulimit -f ${kib(limits.fileSizeBytes)}`,
    'ulimit -c 0',
  ].join(' && ');
  return ['/bin/bash', '-c', `${ulimits} || exit 125; exec /bin/sh -c "$1"`, 'slipway-sandbox', command];
}

export function bwrapArgs(plan: BwrapPlan, host: HostEntry[]): string[] {
  const args = [
    '--json-status-fd', String(plan.statusFd),
    '--unshare-all',
    ...(plan.network ? ['--share-net'] : []),
    '--unshare-user',
    // No user namespaces inside: the command cannot regain capabilities in a nested one.
    '--disable-userns',
    '--uid', String(plan.uid),
    '--gid', String(plan.gid),
    '--hostname', 'slipway-sandbox',
    '--die-with-parent',
    '--new-session',
    '--cap-drop', 'ALL',
    '--ro-bind', '/usr', '/usr',
  ];
  for (const entry of host) {
    if (entry.kind === 'symlink') args.push('--symlink', entry.target, entry.path);
    else args.push('--ro-bind', entry.path, entry.path);
  }
  for (const path of ETC_ENTRIES) args.push('--ro-bind-try', path, path);
  args.push('--proc', '/proc', '--dev', '/dev', '--size', String(plan.limits.tmpBytes), '--tmpfs', '/tmp');
  for (const path of plan.readOnlyMounts) args.push('--ro-bind', path, path);
  for (const path of plan.cacheMounts) args.push('--bind', path, path);
  // Last, so nothing mounted above (a /tmp tmpfs, a read-only parent) hides the worktree.
  args.push('--bind', plan.worktree, plan.worktree, '--chdir', plan.cwd);
  for (const [name, value] of Object.entries(plan.env)) args.push('--setenv', name, value);
  args.push('--', ...limitedShell(plan.limits, plan.command));
  return args;
}
