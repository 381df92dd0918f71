/**
 * The one way activities run code from a run's branch: under bubblewrap as the config says, or —
 * only with `sandbox.mode: none` — unsandboxed, with a warning every time.
 */
import type { Logger } from 'pino';
import type { SandboxSettings } from '../../config/sandbox';
import { runShell } from '../commands/shell';
import { runSandboxed, type SandboxedCommand, type SandboxResult } from './run';
import { requireSandbox } from './status';

/** The values of the host variables the config passes through by name; unset ones are left out. */
export function passThroughEnv(names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (process.env[name] !== undefined ? [[name, process.env[name] as string]] : [])));
}

/**
 * Runs `command` confined by `settings`. Throws SandboxUnavailable (non-retryable) when the
 * sandbox is required and does not work here; every other failure is in the result.
 */
export async function runConfined(settings: SandboxSettings, command: SandboxedCommand, logger?: Logger): Promise<SandboxResult> {
  const caches = Object.fromEntries(settings.cacheMounts.flatMap((m) => (m.env !== undefined ? [[m.env, m.path]] : [])));
  const env = { ...passThroughEnv(settings.env), ...caches, ...command.env };
  await requireSandbox(settings, logger, `the command \`${command.command}\``);
  if (settings.mode === 'none') {
    const result = await runShell(command.command, { cwd: command.cwd, timeoutMs: command.timeoutMs, outputCapBytes: command.outputCapBytes, env: { LANG: 'C.UTF-8', ...env } });
    return { code: result.code, signal: result.timedOut ? 'SIGKILL' : null, timedOut: result.timedOut, output: result.output, truncated: result.truncated, ms: result.ms, ...(result.error !== undefined ? { error: result.error } : {}) };
  }
  return runSandboxed({
    ...command,
    env,
    user: { uid: settings.uid, gid: settings.gid },
    limits: { ...settings.limits, ...command.limits },
    readOnlyMounts: [...settings.readOnlyMounts, ...(command.readOnlyMounts ?? [])],
    cacheMounts: [...settings.cacheMounts.map((m) => m.path), ...(command.cacheMounts ?? [])],
  });
}
