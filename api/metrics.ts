/**
 * The API's own Prometheus metrics, all defined here: requests by route template (never the raw
 * URL, whose ids would make a series per run), runs started, gate decisions by outcome, and the
 * open runs by phase and status as Temporal visibility sees them.
 */
import type { Client } from '@temporalio/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SlipwayPhase, SlipwayStatus } from '../workflows/search-attributes';

export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status_code'>;
  requestDuration: Histogram<'method' | 'route' | 'status_code'>;
  runsStarted: Counter<'outcome'>;
  gateDecisions: Counter<'gate' | 'decision' | 'outcome'>;
}

/** How long a visibility count is reused: scrapes from several Prometheus replicas cost one list. */
const OPEN_RUNS_CACHE_MS = 10_000;
const GATE_DECISION_ROUTE = /^\/runs\/:id\/gates\/:gate\/(approve|reject)$/;
/** Gates every run may have; environment gates are named after environments, soak and watch gates after a service. */
const FIXED_GATES = new Set(['spec', 'migration-review', 'manifest-review']);

const OUTCOME_BY_STATUS: Record<number, string> = {
  200: 'accepted',
  400: 'invalid',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  409: 'not-pending',
};

export function createApiMetrics(options: { client?: Client; defaultMetrics?: boolean; openRunsCacheMs?: number } = {}): ApiMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'slipway_api_' });
  const metrics: ApiMetrics = {
    registry,
    requests: new Counter({
      name: 'slipway_api_requests_total',
      help: 'HTTP requests answered, by route template and status code.',
      labelNames: ['method', 'route', 'status_code'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'slipway_api_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route template and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    runsStarted: new Counter({
      name: 'slipway_api_runs_started_total',
      help: 'POST /runs that started a run (outcome="created") or found the run its idempotency key had already started (outcome="existing").',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    gateDecisions: new Counter({
      name: 'slipway_api_gate_decisions_total',
      help: 'Gate decisions sent through the API, by gate, decision and outcome (accepted, forbidden, not-pending, invalid, not-found, error).',
      labelNames: ['gate', 'decision', 'outcome'],
      registers: [registry],
    }),
  };
  if (options.client !== undefined) openRunsGauge(registry, options.client, options.openRunsCacheMs ?? OPEN_RUNS_CACHE_MS);
  return metrics;
}

/** Open runs by phase and status, counted from Temporal visibility when Prometheus scrapes. */
function openRunsGauge(registry: Registry, client: Client, cacheMs: number): void {
  let cached: { at: number; counts: Map<string, number> } | undefined;
  new Gauge({
    name: 'slipway_runs_open',
    help: 'Runs that have not ended, by phase and status (from Temporal visibility; every API replica reports the same numbers).',
    labelNames: ['phase', 'status'],
    registers: [registry],
    async collect() {
      if (cached === undefined || Date.now() - cached.at >= cacheMs) {
        const counts = new Map<string, number>();
        for await (const run of client.workflow.list({ query: "WorkflowType = 'featureDelivery' AND ExecutionStatus = 'Running'", pageSize: 1000 })) {
          const key = JSON.stringify([run.typedSearchAttributes.get(SlipwayPhase) ?? 'unknown', run.typedSearchAttributes.get(SlipwayStatus) ?? 'unknown']);
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        cached = { at: Date.now(), counts };
      }
      this.reset();
      for (const [key, count] of cached.counts) {
        const [phase, status] = JSON.parse(key) as [string, string];
        this.set({ phase, status }, count);
      }
    },
  });
}

/** A bounded label for a gate name from a URL: a name the workflow has not accepted (a typo, a probe) never becomes a series of its own. */
function gateLabel(gate: string, accepted: boolean): string {
  if (FIXED_GATES.has(gate)) return gate;
  if (/^soak-/.test(gate)) return 'soak';
  if (/^watch-/.test(gate)) return 'watch';
  return accepted ? gate : 'other';
}

/** Adds the request hooks and GET /metrics; call before any route is registered. */
export function instrumentServer(app: FastifyInstance, metrics: ApiMetrics): void {
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status_code: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.requestDuration.observe(labels, reply.elapsedTime / 1000);
    if (route === '/runs' && request.method === 'POST' && (reply.statusCode === 201 || reply.statusCode === 200)) {
      metrics.runsStarted.inc({ outcome: reply.statusCode === 201 ? 'created' : 'existing' });
    }
    const decision = GATE_DECISION_ROUTE.exec(route)?.[1];
    if (decision !== undefined) {
      const outcome = OUTCOME_BY_STATUS[reply.statusCode] ?? (reply.statusCode >= 500 ? 'error' : `status-${reply.statusCode}`);
      metrics.gateDecisions.inc({ gate: gateLabel((request.params as { gate?: string }).gate ?? '', outcome === 'accepted'), decision, outcome });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
