/**
 * gate_p99_ms: from sending an approval over HTTP (`POST /runs/:id/gates/spec/approve`, as a
 * person or the CLI does) to the workflow's next activity starting on the real worker, read from
 * the run's history (ActivityTaskStarted's time; server and bench share the machine's clock).
 * Person mode: each approval of the spec step starts `checkSpec`; with no spec committed it reopens
 * the gate, so one run gives up to 20 rounds.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { figure, spread, percentile, type Figure } from '../figure';
import { sleep } from '../load';
import type { Stack } from '../stack';

const ROUNDS_PER_RUN = 20;

interface Gate {
  status: string;
  round: number;
}

async function waitForSpecGate(stack: Stack, runId: string, round: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await stack.call('GET', `/runs/${runId}`);
    const gate = (res.json as { gates?: Record<string, Gate> } | undefined)?.gates?.spec;
    if (gate?.status === 'pending' && gate.round === round) return;
    if (Date.now() > deadline) throw new Error(`${runId}: spec gate round ${round} never became pending (last answer ${res.status} ${res.text.slice(0, 200)})`);
    await sleep(20);
  }
}

/** The time the first activity scheduled after event `after` started, once the history has it. */
async function nextActivityStart(stack: Stack, runId: string, after: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const events: temporal.api.history.v1.IHistoryEvent[] = (await stack.client.workflow.getHandle(runId).fetchHistory()).events ?? [];
    const scheduled = events.find((e, i) => i >= after && e.activityTaskScheduledEventAttributes);
    const started = scheduled && events.find((e) => e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(scheduled.eventId));
    if (started?.eventTime) return tsToMs(started.eventTime);
    if (Date.now() > deadline) throw new Error(`${runId}: no activity started after the approval within 30 s`);
    await sleep(25);
  }
}

export async function gateLatency(stack: Stack, sizes: { rounds: number }, log: (line: string) => void): Promise<Figure> {
  const latencies: number[] = [];
  const runs = Math.ceil(sizes.rounds / ROUNDS_PER_RUN);
  for (let r = 0; r < runs; r++) {
    const start = await stack.call('POST', '/runs', 'requester', { feature: 'Benchmark how fast an approval moves a run', idempotencyKey: `gate-${Date.now()}-${r}` });
    if (start.status !== 201) throw new Error(`POST /runs answered ${start.status}: ${start.text}`);
    const runId = (start.json as { runId: string }).runId;
    for (let round = 1; round <= ROUNDS_PER_RUN && latencies.length < sizes.rounds; round++) {
      await waitForSpecGate(stack, runId, round);
      const before = (await stack.client.workflow.getHandle(runId).fetchHistory()).events?.length ?? 0;
      const sent = Date.now();
      const approval = await stack.call('POST', `/runs/${runId}/gates/spec/approve`, 'approver', { comment: 'bench' });
      if (approval.status !== 200) throw new Error(`approve answered ${approval.status}: ${approval.text}`);
      latencies.push((await nextActivityStart(stack, runId, before)) - sent);
    }
    await stack.call('POST', `/runs/${runId}/cancel`, 'approver', { reason: 'benchmark over' });
    log(`gate: ${latencies.length}/${sizes.rounds} approvals measured (p50 ${percentile(latencies, 50).toFixed(1)} ms)`);
  }
  return figure('gate_p99_ms', percentile(latencies, 99), 'ms', '<=', 50, `approve over HTTP -> next activity started (history); ${spread(latencies, 'ms')}`);
}
