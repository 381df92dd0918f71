/**
 * Wires the worker's metrics and traces: the SDK runtime's Prometheus exporter, Slipway's own
 * metrics (worker/metrics.ts) and the OpenTelemetry interceptors, in one place for main.ts and tests.
 */
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { DefaultLogger, Runtime, type LogLevel, type WorkerOptions } from '@temporalio/worker';
import type { Tracing } from '../config/tracing';
import type { WorkerMetrics } from './metrics';

/** Bundled with the workflow code (scripts/bundle-workflows.ts) or by Worker.create when there is no bundle. */
export const WORKFLOW_INTERCEPTOR_MODULES = [
  require.resolve('./workflowInterceptors'),
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

/** Interceptors and sinks for `buildWorker`; the trace exporter sink is always there (a no-op when tracing is off), as the bundle always carries its interceptor. */
export function workerTelemetry(deps: { metrics: WorkerMetrics; tracing: Tracing }): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  return {
    interceptors: {
      workflowModules: WORKFLOW_INTERCEPTOR_MODULES,
      activity: [
        (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
        (ctx) => ({ inbound: deps.metrics.activityInterceptor(ctx) }),
      ],
      client: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    },
    sinks: {
      ...deps.metrics.sinks(),
      exporter: makeWorkflowExporter(deps.tracing.spanProcessor, deps.tracing.resource),
    },
  };
}

/**
 * Installs the SDK runtime with its Prometheus exporter on `bindAddress` (task slots, poll and
 * schedule-to-start latencies, sticky cache, ...). Must run before the first NativeConnection.
 */
export function installRuntime(bindAddress: string | undefined): void {
  Runtime.install({
    // The SDK's own chatter (worker states, the workflow bundle's build) only when asked for.
    logger: new DefaultLogger((process.env.SLIPWAY_SDK_LOG_LEVEL ?? 'INFO') as LogLevel),
    ...(bindAddress !== undefined
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress, useSecondsForDurations: true, countersTotalSuffix: true } } } }
      : {}),
  });
}

/** An address from the environment; "off" (or empty) turns that endpoint off. */
export function addressFromEnv(value: string | undefined, fallback: string): string | undefined {
  if (value === undefined) return fallback;
  return value.trim() === '' || value.trim() === 'off' ? undefined : value.trim();
}
