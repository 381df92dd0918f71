import { spawn } from 'node:child_process';

export interface ShellResult {
  code: number | null;
  timedOut: boolean;
  /** The output's tail, at most `outputCapBytes`. */
  output: string;
  truncated: boolean;
  ms: number;
}

/** Runs a command line with `sh -c` in `cwd`, killing its whole process group at the timeout. */
export function runShell(command: string, options: { cwd: string; timeoutMs: number; outputCapBytes: number; env?: NodeJS.ProcessEnv }): Promise<ShellResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], {
      cwd: options.cwd,
      detached: true,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env },
    });
    let output = '';
    let truncated = false;
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > options.outputCapBytes) {
        output = output.slice(-options.outputCapBytes);
        truncated = true;
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, options.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, output, truncated, ms: Math.round(performance.now() - started) });
    });
  });
}
