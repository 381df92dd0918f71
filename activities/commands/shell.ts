import { spawn } from 'node:child_process';
import { OutputTail } from '../sandbox/output';
import { signalGroup } from '../sandbox/processGroup';

export interface ShellResult {
  code: number | null;
  timedOut: boolean;
  /** The output's tail, at most `outputCapBytes`. */
  output: string;
  truncated: boolean;
  ms: number;
  /** Why the command could not run or be waited for (spawn failure), if so. */
  error?: string;
}

/**
 * Runs a command line with `sh -c` in `cwd`, unsandboxed (only `sandbox.mode: none` uses it for
 * branch code), killing its whole process group at the timeout. Never throws: a spawn failure or
 * a group that is already gone comes back in the result.
 */
export function runShell(command: string, options: { cwd: string; timeoutMs: number; outputCapBytes: number; env?: NodeJS.ProcessEnv }): Promise<ShellResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const output = new OutputTail(options.outputCapBytes);
    let timedOut = false;
    let settled = false;
    let error: string | undefined;
    const child = spawn('sh', ['-c', command], {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env },
    });
    const finish = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      resolve({ code, timedOut, output: output.text(), truncated: output.truncated, ms: Math.round(performance.now() - started), ...(error !== undefined ? { error } : {}) });
    };
    child.stdout.on('data', output.take);
    child.stderr.on('data', output.take);
    child.stdout.on('error', () => undefined);
    child.stderr.on('error', () => undefined);
    child.on('error', (err) => {
      error = `could not run the command: ${err.message}`;
      finish(null);
    });
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup(child.pid);
      // A child that escaped the group may hold the pipes open: settle anyway.
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(null);
      }, 5_000);
    }, options.timeoutMs);
    child.on('close', (code) => finish(code));
  });
}
