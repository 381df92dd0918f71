/**
 * Safe upgrades of workflow code: the recorded histories under test/histories/ — runs that were
 * delivered, rejected then approved, rolled back, cancelled, and watched after delivery, with their
 * child workflows — must replay against the current workflow code. A change that would break a run
 * in flight fails here; guard it with `patched()` (see docs/operations.md, "Changing workflow code").
 *
 * `npm run record-histories` re-records them (SLIPWAY_RECORD_HISTORIES=1): do that only for a
 * change no running run can meet, i.e. never once runs exist in production with the old code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { ensureTemporalCli } from '../../scripts/temporal';
import { featureDelivery, type FeatureDeliveryInputV1 } from '../../workflows/featureDelivery';
import { segmentId } from '../../workflows/analysis';
import { decideUpdate } from '../../workflows/messages';
import { activityDoubles, failingVerdict, testSettings } from '../support/doubles';
import { connectTestTemporal, pendingGate, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const DIR = join(__dirname, '..', 'histories');
const RECORD = process.env.SLIPWAY_RECORD_HISTORIES === '1';

interface Scenario {
  name: string;
  activities?: Partial<Activities>;
  settings: ReturnType<typeof testSettings>;
  drive(handle: WorkflowHandle<typeof featureDelivery>): Promise<void>;
}

const settle = (handle: WorkflowHandle) => handle.result().then(() => undefined, () => undefined);

const scenarios: Scenario[] = [
  { name: 'delivered', settings: testSettings(), drive: settle },
  {
    name: 'rejected-then-approved',
    settings: testSettings({ gates: { spec: true } }),
    async drive(handle) {
      await pendingGate(handle, 'spec');
      await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'reject', approver: 'lead', comment: 'Cover offline users.' }] });
      await pendingGate(handle, 'spec');
      await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'approve', approver: 'lead' }] });
      await settle(handle);
    },
  },
  { name: 'rolled-back', activities: failingVerdict(), settings: testSettings(), drive: settle },
  {
    name: 'cancelled',
    settings: testSettings({ gates: { production: true } }),
    async drive(handle) {
      await pendingGate(handle, 'production');
      await handle.cancel();
      await settle(handle);
    },
  },
  { name: 'watched', settings: testSettings({ watch: { durationMs: 2_000, intervalMs: 500 } }), drive: settle },
];

/** Which workflow each file is the history of (replay needs the id the history was made with). */
const INDEX = join(DIR, 'index.json');

async function record(env: TestTemporal, scenario: Scenario, index: Record<string, string>): Promise<void> {
  const { activities } = activityDoubles(scenario.activities);
  const taskQueue = uniqueTaskQueue(`history-${scenario.name}`);
  const worker = await testWorker(env, taskQueue, activities);
  const workflowId = `history-${scenario.name}`;
  const args: FeatureDeliveryInputV1 = { feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: [], settings: scenario.settings };
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(featureDelivery, { taskQueue, workflowId, args: [args] });
    await scenario.drive(handle);
    const state = await handle.query('status').catch(() => undefined);
    // The parent and, for the production rollout, the child and its first analysis segment.
    const rollout = (state as { rollouts?: { environment: string; workflowId: string }[] } | undefined)?.rollouts?.find((r) => r.environment === 'production');
    const withChildren = scenario.name === 'delivered' || scenario.name === 'rolled-back';
    const ids = [handle.workflowId, ...(rollout && withChildren ? [rollout.workflowId, segmentId(rollout.workflowId, 1)] : [])];
    // Exported as the Temporal CLI and UI export them (`temporal workflow show --output json`).
    const cli = await ensureTemporalCli();
    for (const [i, id] of ids.entries()) {
      const kind = ['featureDelivery', 'serviceRollout', 'analysisSegment'][i];
      const json = execFileSync(cli, ['workflow', 'show', '--address', env.address, '--workflow-id', id, '--output', 'json'], { encoding: 'utf8' });
      const file = `${scenario.name}.${kind}.json`;
      await writeFile(join(DIR, file), json.endsWith('\n') ? json : `${json}\n`);
      index[file] = id;
    }
  });
}

let env: TestTemporal | undefined;
afterAll(async () => env?.close());

(RECORD ? test : test.skip)('records the representative histories', async () => {
  env = await connectTestTemporal();
  await rm(DIR, { recursive: true, force: true });
  await mkdir(DIR, { recursive: true });
  const index: Record<string, string> = {};
  for (const scenario of scenarios) await record(env, scenario, index);
  await writeFile(INDEX, `${JSON.stringify(index, null, 2)}\n`);
}, 300_000);

test('every recorded history replays against the current workflow code', async () => {
  const index: Record<string, string> = existsSync(INDEX) ? JSON.parse(readFileSync(INDEX, 'utf8')) : {};
  const files = Object.keys(index);
  expect(readdirSync(DIR).filter((f) => f !== 'index.json').sort()).toEqual([...files].sort());
  // At least one run of each kind, with the children of the delivered one.
  for (const scenario of scenarios) expect(files).toContain(`${scenario.name}.featureDelivery.json`);
  expect(files).toEqual(expect.arrayContaining(['delivered.serviceRollout.json', 'delivered.analysisSegment.json']));
  const histories = files.map((file) => ({ workflowId: index[file] as string, history: historyFromJSON(JSON.parse(readFileSync(join(DIR, file), 'utf8'))) }));
  const results = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: process.env.SLIPWAY_TEST_WORKFLOW_BUNDLE as string } }, histories)) results.push(result);
  expect(results).toHaveLength(files.length);
  expect(results.filter((r) => r.error !== undefined).map((r) => `${r.workflowId}: ${r.error?.message}`)).toEqual([]);
}, 120_000);
