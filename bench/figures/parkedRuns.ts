/**
 * Many runs parked at their spec gate on one real worker (person mode, a temp git repository):
 *   status_under_load_5xx      GET /runs/:id answers that were 5xx while the last `burst` runs started at once
 *   parked_runs_worker_rss_mb  the worker's resident memory with all of them parked
 *   parked_runs_status_p99_ms  GET /runs/:id over random parked runs, concurrency 10
 *   list_runs_p99_ms           GET /runs?status=awaiting-approval&limit=200, one at a time
 */
import { figure, percentile, spread, type Figure } from '../figure';
import { pool, sleep, timed, waitForCount } from '../load';
import type { Stack } from '../stack';

export interface ParkedSizes {
  parked: number;
  burst: number;
  statusRequests: number;
  listRequests: number;
}

const SENTENCES = [
  'Add real-time notifications when users receive new messages',
  'Let users mute a conversation for a day',
  'Show when a contact was last online',
  'Export a conversation as a PDF',
];

export async function parkedRuns(stack: Stack, sizes: ParkedSizes, log: (line: string) => void): Promise<Figure[]> {
  const tag = Date.now().toString(36);
  const parkedQuery = `TaskQueue = '${stack.taskQueue}' AND ExecutionStatus = 'Running' AND SlipwayStatus = 'awaiting-approval'`;
  const already = (await stack.client.workflow.count(parkedQuery)).count;
  const rssBefore = stack.worker.rssMb();
  const start = async (i: number) => {
    const res = await stack.call('POST', '/runs', 'requester', { feature: SENTENCES[i % SENTENCES.length], idempotencyKey: `parked-${tag}-${i}` });
    if (res.status !== 201) throw new Error(`POST /runs answered ${res.status}: ${res.text.slice(0, 200)}`);
    return (res.json as { runId: string }).runId;
  };

  // Most runs first, at a steady pace.
  const steady = sizes.parked - sizes.burst;
  const ids = await pool(Array.from({ length: steady }, (_, i) => i), 20, start);
  await waitForCount(stack.client, parkedQuery, already + steady, 'runs at their spec gate', 30 * 60_000, (n) => log(`parked: ${n - already}/${steady} at the spec gate`));

  // Then `burst` at once, while people keep asking where their runs stand.
  const statuses = new Map<number, number>();
  let burstDone = false;
  const asking = Array.from({ length: 10 }, async () => {
    while (!burstDone) {
      const id = ids[Math.floor(Math.random() * ids.length)] as string;
      const res = await fetch(`${stack.apiUrl}/runs/${id}`, { headers: { authorization: `Bearer ${stack.tokens.requester}` } }).catch(() => undefined);
      const status = res?.status ?? 0;
      await res?.text();
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  });
  const burst = await timed(() => Promise.all(Array.from({ length: sizes.burst }, (_, i) => start(steady + i))));
  ids.push(...burst.value);
  await waitForCount(stack.client, parkedQuery, already + sizes.parked, 'runs at their spec gate', 30 * 60_000, (n) => log(`parked: ${n - already}/${sizes.parked} at the spec gate`));
  burstDone = true;
  await Promise.all(asking);
  const asked = [...statuses.values()].reduce((a, b) => a + b, 0);
  const fivexx = [...statuses].filter(([s]) => s >= 500 || s === 0).reduce((a, [, n]) => a + n, 0);
  const statusText = JSON.stringify(Object.fromEntries(statuses));

  // Let the worker settle (evictions, GC) before reading its memory.
  await sleep(10_000);
  const rss = stack.worker.rssMb();

  const statusMs: number[] = [];
  let statusErrors = 0;
  await pool(Array.from({ length: sizes.statusRequests }, () => ids[Math.floor(Math.random() * ids.length)] as string), 10, async (id) => {
    const t = await timed(() => stack.call('GET', `/runs/${id}`));
    if (t.value.status !== 200) statusErrors += 1;
    statusMs.push(t.ms);
  });

  const listMs: number[] = [];
  let rows = 0;
  for (let i = 0; i < sizes.listRequests; i++) {
    const t = await timed(() => stack.call('GET', '/runs?status=awaiting-approval&limit=200'));
    if (t.value.status !== 200) throw new Error(`GET /runs answered ${t.value.status}: ${t.value.text.slice(0, 200)}`);
    rows = (t.value.json as { runs: unknown[] }).runs.length;
    listMs.push(t.ms);
  }

  return [
    figure('status_under_load_5xx', fivexx, 'count', '=', 0, `${asked} GET /runs/:id (10 at a time) while ${sizes.burst} runs started at once (all 201 in ${(burst.ms / 1000).toFixed(1)} s) and reached their gate; answers ${statusText}`),
    figure('parked_runs_worker_rss_mb', rss, 'MB', '<=', 300, `${sizes.parked} runs parked at the spec gate (${already} before); worker RSS ${rssBefore.toFixed(0)} MB before; maxCachedWorkflows default`),
    figure('parked_runs_status_p99_ms', percentile(statusMs, 99), 'ms', '<=', 50, `GET /runs/:id over ${ids.length} parked runs, concurrency 10; ${spread(statusMs, 'ms')}${statusErrors ? `; ${statusErrors} not 200` : ''}`),
    figure('list_runs_p99_ms', percentile(listMs, 99), 'ms', '<=', 200, `GET /runs?status=awaiting-approval&limit=200 (${rows} rows) with ${sizes.parked} parked; ${spread(listMs, 'ms')}`),
  ];
}
