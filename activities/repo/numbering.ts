/**
 * Feature numbers (spec-kit's NNN of `NNN-short-name`) that two runs can never share, whatever the
 * concurrency, across workers sharing a repository and across a crash in the middle: a number is
 * taken by creating the ref `refs/slipway/numbers/<N>` (create-only; it fails when the number is
 * taken) pointing at a blob that names the run. A retried call finds its run's blob and keeps the
 * number it already holds. With a remote, the reservation is pushed there too, so workers on
 * different machines share one sequence (pushing a ref that exists with other content fails).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { SimpleGit } from 'simple-git';

export const RESERVATIONS = 'refs/slipway/numbers/';

/** The number a `NNN-name` (branch or spec folder) starts with; any width, so 1000-x reads as 1000. */
export function featureNumberOf(name: string): number | undefined {
  const match = /^(\d{3,})-/.exec(name.trim());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Zero-padded to three digits, wider when it must be: 7 → 007, 1000 → 1000. */
export function formatFeatureNumber(n: number): string {
  return String(n).padStart(3, '0');
}

/** One above every number in use. */
export function nextFreeNumber(taken: Iterable<number>): number {
  let max = 0;
  for (const n of taken) if (n > max) max = n;
  return max + 1;
}

/** What a git error means for a caller that may retry: another process holds a lock, or the name is taken. */
export function isLockContention(err: unknown): boolean {
  const message = (err as Error)?.message ?? '';
  // "cannot lock ref …: reference already exists" is a name taken, not a lock held.
  if (/already exists/i.test(message) && !/\.lock'?: File exists/i.test(message)) return false;
  return /index\.lock|packed-refs\.lock|\.lock'?: File exists|Unable to create .*\.lock|could not lock config file|another git process/i.test(message);
}

/**
 * Runs a git step, retrying briefly while another process holds one of the repository's locks;
 * still busy after that, it is a retryable failure (Temporal tries the activity again later).
 */
export async function withGitLocks<T>(what: string, step: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!isLockContention(err)) throw err;
      if (attempt >= attempts) throw ApplicationFailure.retryable(`${what}: the repository stayed locked by another git process (${(err as Error).message.split('\n')[0]})`, 'GitBusy');
      await new Promise((r) => setTimeout(r, 50 * 2 ** Math.min(attempt, 6) + Math.random() * 50));
    }
  }
}

/** The blob naming the run: the same run always makes the same blob, so a retry recognises its own reservation. */
export async function runBlob(git: SimpleGit, runId: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-number-'));
  try {
    await writeFile(join(dir, 'run'), `${runId}\n`);
    return (await git.raw(['hash-object', '-w', '--no-filters', join(dir, 'run')])).trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ReservationOptions {
  runId: string;
  baseBranch: string;
  /** Reserve on this remote too (workers on other machines share its sequence). */
  remote?: string;
  /** Numbers already used by folders and branches the reservations do not know (older runs, people). */
  taken: number[];
}

/**
 * The number this run holds: the one it reserved before (a retry), or a new one above everything
 * in use. Never returns a number another run holds.
 */
export async function reserveNumber(git: SimpleGit, blob: string, options: ReservationOptions): Promise<number> {
  const reservations = async (): Promise<Map<number, string>> => {
    const out = await git.raw(['for-each-ref', '--format=%(refname) %(objectname)', RESERVATIONS]);
    const map = new Map<number, string>();
    for (const line of out.split('\n')) {
      const [ref, object] = line.trim().split(' ');
      if (ref === undefined || object === undefined) continue;
      const n = Number(ref.slice(RESERVATIONS.length));
      if (Number.isInteger(n) && n > 0) map.set(n, object);
    }
    return map;
  };
  const sync = async () => {
    if (options.remote === undefined) return;
    // The remote's reservations win: mirror them (a local one the remote lacks is pushed below when it is ours).
    await withGitLocks('fetching number reservations', () => git.raw(['fetch', '--quiet', options.remote as string, `+${RESERVATIONS}*:${RESERVATIONS}*`]));
  };
  await sync();
  for (let tries = 0; tries < 1000; tries++) {
    const held = await reservations();
    const own = [...held].find(([, object]) => object === blob)?.[0];
    if (own !== undefined) {
      if (options.remote !== undefined) await publish(own);
      return own;
    }
    const candidate = nextFreeNumber([...held.keys(), ...options.taken]);
    try {
      // Create-only: the empty old value makes update-ref fail when the ref exists.
      await withGitLocks('reserving a feature number', () => git.raw(['update-ref', `${RESERVATIONS}${candidate}`, blob, '']));
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      continue; // taken meanwhile by another run of this repository: look again
    }
    if (options.remote === undefined) return candidate;
    try {
      await publish(candidate);
      return candidate;
    } catch {
      // Another machine took it first: forget ours and look again.
      await git.raw(['update-ref', '-d', `${RESERVATIONS}${candidate}`, blob]).catch(() => undefined);
      await sync();
    }
  }
  throw ApplicationFailure.nonRetryable(`run ${options.runId} found no free feature number after 1000 tries`, 'NoFeatureNumber');

  async function publish(n: number): Promise<void> {
    // Pushing a ref that exists on the remote with other content is rejected; the same content is a no-op.
    await git.raw(['push', '--quiet', options.remote as string, `${blob}:${RESERVATIONS}${n}`]);
  }
}

