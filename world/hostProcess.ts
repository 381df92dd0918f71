/**
 * Host processes the world starts and must be able to find again after a crash: each runs in its
 * own process group, and is known by pid plus its start time in /proc, so a reused pid is never
 * mistaken for ours.
 */
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  startTicks: number;
}

export function startTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

export function identify(pid: number | undefined): ProcessIdentity | undefined {
  if (pid === undefined) return undefined;
  const startTicks = startTicksOf(pid);
  return startTicks === undefined ? undefined : { pid, startTicks };
}

/** True while the very process we started (not a later one with its pid) is alive. */
export function isAlive(id: ProcessIdentity): boolean {
  return startTicksOf(id.pid) === id.startTicks;
}

/** Signals the process group the process leads; false when it is gone. */
export function signalGroup(id: ProcessIdentity, signal: NodeJS.Signals): boolean {
  if (!isAlive(id)) return false;
  try {
    process.kill(-id.pid, signal);
    return true;
  } catch {
    try {
      process.kill(id.pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** SIGTERM to the group, SIGKILL after `graceMs`, and wait until the leader is gone. */
export async function stopGroup(id: ProcessIdentity, graceMs: number, exited?: Promise<unknown>): Promise<void> {
  if (!signalGroup(id, 'SIGTERM')) return;
  const gone = async (deadline: number) => {
    while (isAlive(id) && Date.now() < deadline) {
      if (exited) await Promise.race([exited, sleep(100)]);
      else await sleep(100);
    }
    return !isAlive(id);
  };
  if (await gone(Date.now() + graceMs)) return killStragglers(id);
  signalGroup(id, 'SIGKILL');
  await gone(Date.now() + 10_000);
  killStragglers(id);
}

/** Children the leader left behind in its group die with it, as in a container. */
function killStragglers(id: ProcessIdentity): void {
  try {
    process.kill(-id.pid, 'SIGKILL');
  } catch {
    // No process is left in the group.
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
