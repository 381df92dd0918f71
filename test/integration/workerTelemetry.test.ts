import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { stringify } from 'yaml';
import { parseConfig } from '../../config/load';
import { resolveRunSettings } from '../../config/settings';
import { setUpTracing, type Tracing } from '../../config/tracing';
import { stopProcess } from '../../scripts/process';
import { bundleWorkflows } from '../../scripts/bundle-workflows';
import { freePort } from '../../scripts/temporal';
import { buildWorker } from '../../worker/build';
import { startMetricsServer, WorkerMetrics, type MetricsServer } from '../../worker/metrics';
import { workerTelemetry } from '../../worker/telemetry';
import { featureDelivery, type FeatureDeliveryInputV1 } from '../../workflows/featureDelivery';
import { decideUpdate } from '../../workflows/messages';
import { activityDoubles, failingVerdict, testSettings } from '../support/doubles';
import { fixtureRepo } from '../support/gitRepo';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlpReceiver';
import { connectTestTemporal, eventually, pendingGate, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

let env: TestTemporal;
let bundlePath: string;
let receiver: OtlpReceiver;
let tracing: Tracing;
let tracedClient: Client;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // Before any client or worker exists: the global tracer provider exports to the receiver.
  tracing = setUpTracing('slipway-test', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
  env = await connectTestTemporal();
  tracedClient = new Client({ connection: env.client.connection, interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } });
  // The bundle the image ships: workflows plus Slipway's and OpenTelemetry's workflow interceptors.
  bundlePath = join(await mkdtemp(join(tmpdir(), 'slipway-bundle-')), 'workflow-bundle.js');
  await bundleWorkflows(bundlePath);
}, 180_000);
afterAll(async () => {
  await tracing?.shutdown();
  await receiver?.close();
  await env?.close();
});

const input = (settings = testSettings()): FeatureDeliveryInputV1 => ({ feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: [], settings });

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length).match(/^\{(.*)\}/)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.split(' ').pop());
  }
  return undefined;
}

test('domain metrics move with a run: gates, soak verdicts, rollbacks (a failed attempt too), LLM usage, run end; and its spans reach the OTLP receiver', async () => {
  const metrics = new WorkerMetrics({ defaultMetrics: false });
  let rollbackAttempts = 0;
  const { activities } = activityDoubles({
    ...failingVerdict(),
    rollbackService: async () => {
      rollbackAttempts += 1;
      if (rollbackAttempts === 1) throw ApplicationFailure.retryable('the API server did not answer', 'Transient');
    },
  });
  const taskQueue = uniqueTaskQueue('telemetry');
  const worker = await buildWorker({
    connection: env.native,
    namespace: 'default',
    taskQueue,
    activities,
    workflowBundle: { codePath: bundlePath },
    telemetry: workerTelemetry({ metrics, tracing }),
    options: { stickyQueueScheduleToStartTimeout: '2s' },
  });
  const server: MetricsServer = await startMetricsServer('127.0.0.1:0', metrics.registry, () => worker.getState() === 'RUNNING');
  const workflowId = `telemetry-${Math.random().toString(36).slice(2, 10)}`;
  try {
    await worker.runUntil(async () => {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const handle = await tracedClient.workflow.start(featureDelivery, { taskQueue, workflowId, args: [input(testSettings({ gates: { spec: true } }))] });
      await pendingGate(handle, 'spec');
      await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'approve', approver: 'lead', via: 'api' }] });
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
    });
  } finally {
    await server.close().catch(() => undefined);
  }
  const text = await metrics.registry.metrics();
  expect(sample(text, 'slipway_gate_events_total', { gate: 'spec', status: 'pending' })).toBe(1);
  expect(sample(text, 'slipway_gate_events_total', { gate: 'spec', status: 'approved' })).toBe(1);
  expect(sample(text, 'slipway_gate_wait_seconds_count', { gate: 'spec', status: 'approved' })).toBe(1);
  // Production soak: the double fails every sample; two in a row end it.
  expect(sample(text, 'slipway_soak_samples_total', { service: 'messages', environment: 'production', verdict: 'fail' })).toBe(2);
  expect(sample(text, 'slipway_rollouts_total', { service: 'messages', environment: 'production', outcome: 'failed' })).toBe(1);
  expect(sample(text, 'slipway_rollouts_total', { service: 'messages', environment: 'staging', outcome: 'deployed' })).toBe(1);
  expect(sample(text, 'slipway_rollback_attempts_total', { kind: 'deployment', environment: 'production', outcome: 'failed' })).toBe(1);
  expect(sample(text, 'slipway_rollback_attempts_total', { kind: 'deployment', outcome: 'succeeded' })).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'slipway_rollback_attempts_total', { kind: 'migrations', outcome: 'succeeded' })).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'slipway_rollback_duration_seconds_count', { kind: 'deployment', outcome: 'succeeded' })).toBeGreaterThanOrEqual(1);
  // Doubles spend 1000 input tokens on the spec, 2000 on the plan, 5000 per implemented service.
  expect(sample(text, 'slipway_llm_tokens_total', { phase: 'specify', kind: 'input' })).toBe(1000);
  expect(sample(text, 'slipway_llm_tokens_total', { phase: 'implement', kind: 'input' })).toBe(10_000);
  expect(sample(text, 'slipway_llm_cost_usd_total', { phase: 'architect' })).toBeCloseTo(0.002);
  expect(sample(text, 'slipway_run_transitions_total', { phase: 'specify', status: 'awaiting-approval' })).toBe(1);
  expect(sample(text, 'slipway_run_transitions_total', { phase: 'deploy:production', status: 'running' })).toBe(1);
  expect(sample(text, 'slipway_runs_ended_total', { status: 'rolled-back', phase: 'deploy:production' })).toBe(1);

  // One trace from the client's start through the workflow to its activities.
  await tracing.spanProcessor.forceFlush();
  const expected = ['StartWorkflow:featureDelivery', 'RunWorkflow:featureDelivery', 'StartActivity:prepareWorkspace', 'RunActivity:prepareWorkspace', 'StartChildWorkflow:serviceRollout', 'RunWorkflow:serviceRollout', 'RunActivity:rollbackService'];
  const spans = await eventually(async () => {
    const start = receiver.spans.find((s) => s.name === 'StartWorkflow:featureDelivery');
    const trace = receiver.spans.filter((s) => s.traceId === start?.traceId);
    return expected.every((name) => trace.some((s) => s.name === name)) ? trace : undefined;
  }, `the run's spans (${expected.join(', ')}) in one trace at the OTLP receiver`);
  expect(spans.find((s) => s.name === 'RunWorkflow:featureDelivery')?.parentSpanId).toBe(spans.find((s) => s.name === 'StartWorkflow:featureDelivery')?.spanId);
  expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['slipway-test']));
}, 120_000);

test('worker/main.ts exports the SDK runtime metrics and Slipway\'s on two ports, with /healthz, while a real run waits at its gate', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const dir = await mkdtemp(join(tmpdir(), 'slipway-worker-main-'));
  const taskQueue = uniqueTaskQueue('main');
  const configFile = join(dir, 'slipway.config.yaml');
  const config = {
    repository: { path: repo, worktreesDir: worktrees },
    services: [{ name: 'messages', path: 'services/messages' }],
    environments: [{ name: 'production', namespace: 'production' }],
    gates: { spec: { required: true } },
    temporal: { address: env.address, namespace: 'default', taskQueue },
  };
  await writeFile(configFile, stringify(config));
  const [sdkPort, ownPort] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: resolve(__dirname, '../..'),
    env: {
      ...process.env,
      SLIPWAY_CONFIG: configFile,
      SLIPWAY_WORKFLOW_BUNDLE: bundlePath,
      SLIPWAY_SDK_METRICS_ADDRESS: `127.0.0.1:${sdkPort}`,
      SLIPWAY_WORKER_METRICS_ADDRESS: `127.0.0.1:${ownPort}`,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    const own = `http://127.0.0.1:${ownPort}`;
    await eventually(async () => ((await fetch(`${own}/healthz`)).status === 200 ? true : undefined), 'the worker\'s /healthz', 60_000);
    const handle = await env.client.workflow.start(featureDelivery, {
      taskQueue,
      workflowId: `telemetry-main-${Math.random().toString(36).slice(2, 10)}`,
      args: [{ ...input(), settings: resolveRunSettings(parseConfig(config)) }],
    });
    await pendingGate(handle, 'spec');
    const ownText = await eventually(async () => {
      const text = await (await fetch(`${own}/metrics`)).text();
      return sample(text, 'slipway_gate_events_total', { gate: 'spec', status: 'pending' }) === 1 ? text : undefined;
    }, 'the spec gate in the worker\'s metrics');
    expect(sample(ownText, 'slipway_run_transitions_total', { phase: 'specify', status: 'awaiting-approval' })).toBe(1);
    expect(sample(ownText, 'slipway_worker_process_cpu_seconds_total')).toBeGreaterThan(0);

    const sdkText = await (await fetch(`http://127.0.0.1:${sdkPort}/metrics`)).text();
    expect(sample(sdkText, 'temporal_worker_task_slots_available', { task_queue: taskQueue, worker_type: 'WorkflowWorker' })).toBeGreaterThan(0);
    expect(sample(sdkText, 'temporal_workflow_task_schedule_to_start_latency_count', { task_queue: taskQueue })).toBeGreaterThan(0);
    expect(sample(sdkText, 'temporal_activity_schedule_to_start_latency_count', { task_queue: taskQueue })).toBeGreaterThan(0);
    await handle.terminate('test over');
  } finally {
    await stopProcess(child, 'SIGTERM', 20_000);
  }
  expect(child.exitCode).toBe(0);
}, 120_000);
