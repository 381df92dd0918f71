/**
 * Signals a whole process group. A group that is already gone (ESRCH) or out of reach (EPERM) is
 * not an error worth crashing a worker over: it returns false instead of throwing.
 */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
