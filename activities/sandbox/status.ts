/**
 * Whether the sandbox works on this machine, and the rule that follows from it: no sandbox, no
 * run — unless the config says `sandbox: none`, which is loud about it.
 */
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { SandboxSettings } from '../../config/sandbox';
import { bubblewrapBinary, runSandboxed } from './run';

export type SandboxStatus =
  | { available: true; bwrap: string; uid: number; gid: number }
  | { available: false; reason: string };

/** Agent and command activities fail with this (non-retryable) when commands cannot be sandboxed. */
export class SandboxUnavailable extends ApplicationFailure {
  static readonly TYPE = 'SandboxUnavailable';
  constructor(reason: string) {
    super(
      `commands from a run's branch must run under bubblewrap, and it cannot run here: ${reason}. Install bubblewrap and allow user namespaces (see docs/security-model.md), or set sandbox.mode: none on a throwaway machine.`,
      SandboxUnavailable.TYPE,
      true,
    );
  }
}

let cached: Promise<SandboxStatus> | undefined;

/**
 * Runs a trivial command in a real sandbox (all namespaces, the sandbox user, a bound folder) and
 * says whether it worked and, if not, why. Cached per process; `refresh` probes again.
 */
export function sandboxStatus(options: { refresh?: boolean; uid?: number; gid?: number } = {}): Promise<SandboxStatus> {
  if (options.refresh || cached === undefined) cached = probe(options.uid ?? 65534, options.gid ?? 65534);
  return cached;
}

async function probe(uid: number, gid: number): Promise<SandboxStatus> {
  const bwrap = await bubblewrapBinary(true);
  if (bwrap === undefined) return { available: false, reason: 'bwrap is not installed (run scripts/bubblewrap.ts, or install the bubblewrap package)' };
  const dir = await mkdtemp(join(tmpdir(), 'slipway-sandbox-probe-'));
  try {
    await chmod(dir, 0o755);
    if (process.getuid?.() === 0) await chown(dir, uid, gid);
    const result = await runSandboxed({ command: 'echo sandboxed > probe && cat probe', worktree: dir, cwd: dir, network: false, timeoutMs: 15_000, outputCapBytes: 4096, user: { uid, gid } });
    if (result.code === 0 && result.output.trim() === 'sandboxed') return { available: true, bwrap, uid, gid };
    const why = result.error ?? (result.timedOut ? 'timed out' : `exited ${result.code}`);
    return { available: false, reason: `${bwrap} could not create a sandbox (${why}): ${result.output.trim().slice(-500) || 'no output'}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** For the worker's start-up: probes once and logs what commands will run under. Never throws. */
export async function checkSandbox(settings: SandboxSettings, logger: Logger): Promise<SandboxStatus> {
  const status = await sandboxStatus({ refresh: true, uid: settings.uid, gid: settings.gid });
  if (settings.mode === 'none') {
    logger.warn({ sandbox: 'none' }, 'SANDBOX DISABLED (sandbox.mode: none): code from run branches runs as this worker, with its network, files and environment');
  } else if (status.available) {
    logger.info({ bwrap: status.bwrap, uid: status.uid }, 'commands from run branches run under bubblewrap');
  } else {
    logger.error({ reason: status.reason }, 'bubblewrap cannot sandbox commands here: agent and command activities will refuse to run (SandboxUnavailable)');
  }
  return status;
}

/**
 * Called before an agent or command activity runs anything from a branch: throws
 * SandboxUnavailable when the sandbox is required and does not work here; with `sandbox: none`,
 * warns (on every run) and lets it through.
 */
export async function requireSandbox(settings: SandboxSettings, logger: Logger | undefined, what: string): Promise<void> {
  if (settings.mode === 'none') {
    logger?.warn({ sandbox: 'none', what }, `SANDBOX DISABLED: ${what} runs unsandboxed`);
    return;
  }
  const status = await sandboxStatus({ uid: settings.uid, gid: settings.gid });
  if (!status.available) throw new SandboxUnavailable(status.reason);
}
