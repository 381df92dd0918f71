/**
 * Slipway's domain metrics, all defined here and fed from outside the workflow code: the activity
 * interceptor reads activity inputs and results (soak samples, gate notifications, rollbacks, LLM
 * usage), and the workflow interceptors' sink reports run and rollout lifecycle. The Temporal
 * SDK's own metrics (task slots, schedule-to-start latency, ...) are exported by the SDK's
 * runtime on a port of their own (see worker/telemetry.ts).
 */
import { createServer, type Server } from 'node:http';
import type { Context as ActivityContext } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, InjectedSinks } from '@temporalio/worker';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { Activities } from '../activities';
import type { GateRecord, Phase, SoakSample, TokenUsage } from '../workflows/state';
import type { RunMetricsSinks } from './workflowInterceptors';

/** The phase whose budget an agent activity's tokens count against (as featureDelivery records them). */
const PHASE_OF_ACTIVITY: Partial<Record<keyof Activities, Phase>> = {
  writeSpec: 'specify',
  writePlan: 'architect',
  writeTasks: 'tasks',
  buildGrpc: 'implement',
  integrateEvents: 'implement',
  implementService: 'implement',
  draftMigrations: 'implement',
  writeManifests: 'prepare-deploy',
  writeDocs: 'docs',
};

const ROLLBACK_KIND: Record<string, string> = { rollbackService: 'deployment', revertMigrations: 'migrations' };

const HOURS = 3600;

export class WorkerMetrics {
  readonly registry = new Registry();

  readonly runTransitions = new Counter({
    name: 'slipway_run_transitions_total',
    help: 'Runs entering a phase or status (from the runs\' search attributes).',
    labelNames: ['phase', 'status'],
    registers: [this.registry],
  });
  readonly runsEnded = new Counter({
    name: 'slipway_runs_ended_total',
    help: 'Runs that ended, by final status and the phase they ended in.',
    labelNames: ['phase', 'status'],
    registers: [this.registry],
  });
  readonly rollouts = new Counter({
    name: 'slipway_rollouts_total',
    help: 'Service rollouts that ended: passed (soak passed), deployed (no soak), inconclusive, failed, cancelled.',
    labelNames: ['service', 'environment', 'outcome'],
    registers: [this.registry],
  });
  readonly soakSamples = new Counter({
    name: 'slipway_soak_samples_total',
    help: 'Soak analysis samples by verdict (pass, fail, inconclusive; error when Prometheus did not answer).',
    labelNames: ['service', 'environment', 'verdict'],
    registers: [this.registry],
  });
  readonly gateEvents = new Counter({
    name: 'slipway_gate_events_total',
    help: 'Gates opened (status="pending") and decided (approved, rejected, expired, closed), as notified.',
    labelNames: ['gate', 'status'],
    registers: [this.registry],
  });
  readonly gateWait = new Histogram({
    name: 'slipway_gate_wait_seconds',
    help: 'Time from a gate opening to its decision, by outcome.',
    labelNames: ['gate', 'status'],
    buckets: [60, 300, 900, HOURS, 4 * HOURS, 12 * HOURS, 24 * HOURS, 48 * HOURS, 72 * HOURS],
    registers: [this.registry],
  });
  readonly rollbacks = new Counter({
    name: 'slipway_rollback_attempts_total',
    help: 'Compensation attempts (roll back a deployment, revert migrations) by outcome; a failed attempt is retried by Temporal.',
    labelNames: ['kind', 'environment', 'outcome'],
    registers: [this.registry],
  });
  readonly rollbackDuration = new Histogram({
    name: 'slipway_rollback_duration_seconds',
    help: 'How long one compensation attempt took.',
    labelNames: ['kind', 'outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly llmTokens = new Counter({
    name: 'slipway_llm_tokens_total',
    help: 'LLM tokens spent by agent activities that finished, by phase and kind (input, output, cache_read, cache_write).',
    labelNames: ['phase', 'kind'],
    registers: [this.registry],
  });
  readonly llmCost = new Counter({
    name: 'slipway_llm_cost_usd_total',
    help: 'Estimated LLM cost in US dollars, by phase.',
    labelNames: ['phase'],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'slipway_worker_' });
  }

  /** The sink the workflow interceptors call (never during replay). */
  sinks(): InjectedSinks<RunMetricsSinks> {
    return {
      slipwayMetrics: {
        runTransition: { fn: (_info, event) => this.runTransitions.inc(event) },
        runEnded: { fn: (_info, event) => this.runsEnded.inc(event) },
        rolloutEnded: { fn: (_info, event) => this.rollouts.inc(event) },
      },
    };
  }

  /** An activity inbound interceptor that reads what each activity was given and returned. */
  activityInterceptor(ctx: ActivityContext): ActivityInboundCallsInterceptor {
    return {
      execute: async (input, next) => {
        const type = ctx.info.activityType;
        const arg = input.args[0] as Record<string, unknown> | undefined;
        // A gate notification is retried until Slack answers; the event happened once.
        if (type === 'notifyGate' && ctx.info.attempt === 1) this.observeGate((arg as { gate: GateRecord }).gate);
        const rollback = ROLLBACK_KIND[type];
        // Rollbacks name their environment as settings (deployments) or by name (migrations).
        const where = arg?.environment;
        const environment = typeof where === 'object' && where !== null ? String((where as { name?: unknown }).name) : String(where ?? 'unknown');
        const started = performance.now();
        try {
          const result = await next(input);
          if (rollback !== undefined) this.observeRollback(rollback, environment, 'succeeded', started);
          this.observeResult(type, result);
          return result;
        } catch (err) {
          if (rollback !== undefined) this.observeRollback(rollback, environment, 'failed', started);
          throw err;
        }
      },
    };
  }

  private observeGate(gate: GateRecord): void {
    this.gateEvents.inc({ gate: gate.name, status: gate.status });
    if (gate.status !== 'pending' && gate.decidedAt !== undefined) {
      const waited = (Date.parse(gate.decidedAt) - Date.parse(gate.openedAt)) / 1000;
      if (Number.isFinite(waited) && waited >= 0) this.gateWait.observe({ gate: gate.name, status: gate.status }, waited);
    }
  }

  private observeRollback(kind: string, environment: string, outcome: 'succeeded' | 'failed', started: number): void {
    this.rollbacks.inc({ kind, environment, outcome });
    this.rollbackDuration.observe({ kind, outcome }, (performance.now() - started) / 1000);
  }

  private observeResult(type: string, result: unknown): void {
    if (type === 'analyzeSlo') {
      const sample = result as SoakSample;
      this.soakSamples.inc({ service: sample.service, environment: sample.environment, verdict: sample.error !== undefined ? 'error' : sample.verdict });
      return;
    }
    const usage = (result as { usage?: TokenUsage } | undefined)?.usage;
    if (usage === undefined || typeof usage.inputTokens !== 'number') return;
    const phase = PHASE_OF_ACTIVITY[type as keyof Activities] ?? 'other';
    this.llmTokens.inc({ phase, kind: 'input' }, usage.inputTokens);
    this.llmTokens.inc({ phase, kind: 'output' }, usage.outputTokens);
    this.llmTokens.inc({ phase, kind: 'cache_read' }, usage.cacheReadTokens);
    this.llmTokens.inc({ phase, kind: 'cache_write' }, usage.cacheWriteTokens);
    this.llmCost.inc({ phase }, usage.costUsd);
  }
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves /metrics (Slipway's metrics) and /healthz (200 while `healthy()` says so: the worker is
 * polling) on `address` (host:port; port 0 picks a free one).
 */
export async function startMetricsServer(address: string, registry: Registry, healthy: () => boolean): Promise<MetricsServer> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon) || '0.0.0.0';
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`metrics address "${address}" is not host:port`);
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => response.writeHead(500).end(err.message),
      );
    } else if (path === '/healthz' || path === '/readyz') {
      const ok = healthy();
      response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok }));
    } else {
      response.writeHead(404).end('not found: try /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
