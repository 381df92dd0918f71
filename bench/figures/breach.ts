/**
 * breach_to_rollback_s: a real breach in the local world. A person-mode run of the demo's feature
 * in its --breach variant (tests pass; in production the notifications service rejects the load's
 * user ids) is driven to its end by the demo's people; production soaks with the default analysis
 * (a sample every 15 s, 2 failing in a row, a 1m rate window, 5% errors) under the world's load.
 * Measured from the history: from the failing version's production deploy starting (it cannot
 * serve before) to the first rollbackService activity starting. The table also shows the time
 * from the deploy's completion (the new pod serving for sure).
 */
import { join } from 'node:path';
import { tsToMs } from '@temporalio/common/lib/time';
import type { Client } from '@temporalio/client';
import { parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { startConfiguredWorld } from '../../world/configured';
import { FEATURE } from '../../world/demo/changes';
import { Api, driveRun } from '../../world/demo/driver';
import { figure, percentile, spread, type Figure } from '../figure';
import { Stack } from '../stack';
import { worldConfig } from '../worldConfig';

interface ActivityTimes {
  type: string;
  input: string;
  started?: number;
  completed?: number;
}

/** Every activity of the run and its children, with start and completion times. */
async function activitiesOf(client: Client, runId: string): Promise<ActivityTimes[]> {
  const out: ActivityTimes[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${runId}' OR WorkflowId STARTS_WITH '${runId}/'` })) {
    const events = (await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory()).events ?? [];
    const byId = new Map<number, ActivityTimes>();
    for (const event of events) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) {
        const input = Buffer.from(scheduled.input?.payloads?.[0]?.data ?? []).toString('utf8');
        const entry = { type: scheduled.activityType?.name ?? '?', input };
        byId.set(Number(event.eventId), entry);
        out.push(entry);
      }
      const started = event.activityTaskStartedEventAttributes;
      if (started) {
        const entry = byId.get(Number(started.scheduledEventId));
        if (entry) entry.started = tsToMs(event.eventTime);
      }
      const completed = event.activityTaskCompletedEventAttributes;
      if (completed) {
        const entry = byId.get(Number(completed.scheduledEventId));
        if (entry) entry.completed = tsToMs(event.eventTime);
      }
    }
  }
  return out;
}

export async function breachToRollback(dir: string, sizes: { trials: number }, log: (line: string) => void): Promise<Figure> {
  const worldDir = join(dir, 'breach');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(worldDir, { recursive: true });
  // Default analysis; a production soak long enough to see the breach, short enough for messages' clean soak.
  const config = await worldConfig(worldDir, (c) => ({
    ...c,
    environments: (c.environments ?? []).map((e) => (e.name === 'production' ? { ...e, soak: { duration: '2m' } } : e)),
    analysis: {},
  }));
  const parsed = parseConfig({ ...config, temporal: { address: '127.0.0.1:1', namespace: 'default', taskQueue: 'slipway' } } as SlipwayConfigInput);
  log('breach: starting the local world (the first start builds the sample and deploys its release: minutes)');
  const world = await startConfiguredWorld(parsed, { progress: (line) => log(`breach: ${line.trim()}`) });
  const stack = new Stack({ dir: worldDir, config, env: { ...world.env, SLIPWAY_CRANE: world.world.crane }, log });
  const fromDeployStart: number[] = [];
  const fromDeployDone: number[] = [];
  try {
    await stack.start();
    for (let trial = 1; trial <= sizes.trials; trial++) {
      const api = new Api(stack.apiUrl, stack.tokens);
      const { runId } = await api.call<{ runId: string }>('POST', '/runs', 'requester', { feature: FEATURE, idempotencyKey: `breach-${Date.now()}` });
      log(`breach: trial ${trial}: run ${runId}`);
      const state = await driveRun({ api, runId, remoteUrl: join(parsed.repository.path, '..', 'remote.git'), workDir: join(worldDir, 'people'), breach: true, timeoutMs: 40 * 60_000, onAction: (a) => log(`breach: ${a}`) });
      if (state.status !== 'rolled-back') throw new Error(`the breach run ended ${state.status}, not rolled-back: ${state.reason ?? ''}`);
      const activities = await activitiesOf(stack.client, runId);
      const production = activities.filter((a) => a.type === 'deployService' && a.input.includes('"namespace":"production"') && a.input.includes('"name":"notifications"'));
      const deploy = production[0];
      const rollback = activities.filter((a) => a.type === 'rollbackService' && a.started !== undefined).sort((a, b) => (a.started ?? 0) - (b.started ?? 0))[0];
      if (deploy?.started === undefined || deploy.completed === undefined || rollback?.started === undefined) throw new Error(`trial ${trial}: no production deploy of notifications or no rollback in the history (reason: ${state.reason ?? '?'})`);
      fromDeployStart.push((rollback.started - deploy.started) / 1000);
      fromDeployDone.push((rollback.started - deploy.completed) / 1000);
      log(`breach: trial ${trial}: rollback started ${fromDeployStart.at(-1)?.toFixed(1)} s after the failing deploy started (${fromDeployDone.at(-1)?.toFixed(1)} s after it completed)`);
    }
  } finally {
    await stack.stop();
    await world.stop();
  }
  return figure(
    'breach_to_rollback_s',
    percentile(fromDeployStart, 50),
    's',
    '<=',
    30,
    `median over ${fromDeployStart.length} trial(s), failing deploy started -> rollback started; ${spread(fromDeployStart, 's')}; from the deploy's completion: ${spread(fromDeployDone, 's')}. Default analysis (15 s samples, 2 in a row, 1m window); Flagger's default is about 60 s, Argo Rollouts' documented example about 15 min`,
  );
}
