import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { featureDelivery } from '../../workflows/featureDelivery';
import { testSettings } from '../support/doubles';
import { connectTestTemporal, eventually, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

let env: TestTemporal;
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await connectTestTemporal();
});
afterAll(async () => {
  children.forEach((child) => child.kill('SIGKILL'));
  await env.close();
});

function startWorker(taskQueue: string, callsFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../support/crashableWorker.ts')], {
    env: { ...process.env, SLIPWAY_TEST_TASK_QUEUE: taskQueue, SLIPWAY_TEST_CALLS_FILE: callsFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('worker ready') && resolve(child));
    child.once('exit', (code) => reject(new Error(`worker exited early with code ${code}`)));
  });
}

interface LoggedCall {
  pid: number;
  attempt: number;
  name: string;
  input: { runId?: string; environment?: string | { name: string }; service?: { name: string }; sample?: number };
}
const nameOf = (value: string | { name: string } | undefined) => (typeof value === 'object' ? value.name : (value ?? ''));
const readCalls = (file: string): LoggedCall[] =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line)) : [];

test('a worker killed during the production soak is replaced and the run finishes with no step run twice', async () => {
  const taskQueue = uniqueTaskQueue('crash');
  const callsFile = join(process.env.SLIPWAY_TEST_DIR as string, `${taskQueue}.calls.jsonl`);
  const first = await startWorker(taskQueue, callsFile);

  const handle = await env.client.workflow.start(featureDelivery, {
    taskQueue,
    workflowId: `test-crash-${taskQueue}`,
    args: [{ feature: 'Survive a worker crash mid-soak', requester: 'alice', services: ['messages'], settings: testSettings({ soakMs: 5_000, intervalMs: 1_000 }) }],
  });

  // Kill the worker while the soak sleeps between samples 2 and 3 (samples are 1 s apart).
  await eventually(async () => (readCalls(callsFile).some((c) => c.name === 'analyzeSlo' && c.input.sample === 2) ? true : undefined), 'second soak sample');
  await new Promise((r) => setTimeout(r, 300));
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));

  const second = await startWorker(taskQueue, callsFile);
  const state = await handle.result();
  expect(state.status).toBe('succeeded');

  const calls = readCalls(callsFile);
  expect(new Set(calls.map((c) => c.pid))).toEqual(new Set([first.pid, second.pid]));
  // The new worker picked up the soak where it was: samples 3..6 ran on it, none before that.
  const samples = calls.filter((c) => c.name === 'analyzeSlo');
  expect(samples.map((c) => c.input.sample)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(samples.filter((c) => c.pid === second.pid).map((c) => c.input.sample)).toEqual([3, 4, 5, 6]);
  // No step ran twice.
  const keys = calls.filter((c) => !c.name.startsWith('notify')).map((c) => `${c.name}|${nameOf(c.input.service)}|${nameOf(c.input.environment)}|${c.input.sample ?? ''}`);
  expect(keys.length).toBe(new Set(keys).size);
  expect(calls.filter((c) => c.name === 'deployService')).toHaveLength(3);
  expect(state.rollouts.find((r) => r.environment === 'production')?.soak).toMatchObject({ decision: 'passed', samples: 6 });
});

test('two workers on one task queue share runs; when one is killed mid-run, the other finishes every run, no step run twice', async () => {
  const taskQueue = uniqueTaskQueue('pair');
  const callsFile = join(process.env.SLIPWAY_TEST_DIR as string, `${taskQueue}.calls.jsonl`);
  const [first, second] = await Promise.all([startWorker(taskQueue, callsFile), startWorker(taskQueue, callsFile)]);
  const handles = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      env.client.workflow.start(featureDelivery, {
        taskQueue,
        workflowId: `test-pair-${taskQueue}-${i}`,
        args: [{ feature: `Shared between two workers, run ${i}`, requester: 'alice', services: ['messages'], settings: testSettings({ soakMs: 6_000, intervalMs: 1_000 }) }],
      }),
    ),
  );

  // Both workers take part; kill the first once a run of its own is in the middle of its soak.
  const victim = await eventually(async () => {
    const calls = readCalls(callsFile);
    if (!calls.some((c) => c.pid === second.pid)) return undefined;
    return calls.find((c) => c.pid === first.pid && c.name === 'analyzeSlo' && (c.input.sample ?? 0) >= 2)?.input.runId;
  }, 'both workers busy, and a soak half-way on the first', 60_000);
  first.kill('SIGKILL');

  const states = await Promise.all(handles.map((h) => h.result()));
  expect(states.map((s) => s.status)).toEqual(Array(6).fill('succeeded'));
  const calls = readCalls(callsFile);
  // The run the killed worker was soaking went on in the other worker.
  expect(calls.some((c) => c.pid === second.pid && c.input.runId === victim && c.name === 'writeReport')).toBe(true);
  // A first attempt of each step happened once per run (a retry after the kill has attempt > 1).
  const keys = calls
    .filter((c) => !c.name.startsWith('notify') && c.attempt === 1)
    .map((c) => `${c.input.runId ?? ''}|${c.name}|${nameOf(c.input.service)}|${nameOf(c.input.environment)}|${c.input.sample ?? ''}`);
  expect(keys.length).toBe(new Set(keys).size);
  for (const state of states) expect(state.rollouts.find((r) => r.environment === 'production')?.soak).toMatchObject({ decision: 'passed', samples: 7 });
}, 180_000);
