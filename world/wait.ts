import type { ChildProcess } from 'node:child_process';

/** Polls `check` until it is true; fails early, naming the log, when the process it waits for has exited. */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: { what: string; timeoutMs: number; child?: ChildProcess; logFile?: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const where = options.logFile ? `; see ${options.logFile}` : '';
  for (;;) {
    const child = options.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${options.what} exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready${where}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${options.what} was not ready within ${Math.round(options.timeoutMs / 1000)} s${where}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
}
