/**
 * OpenTelemetry tracing for the API and the worker: spans go to an OTLP/HTTP endpoint when one is
 * configured (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the standard
 * variables), and nowhere otherwise. The Temporal interceptors propagate the trace from the
 * client that starts a run through the workflow to every activity.
 */
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface Tracing {
  /** Whether spans are exported anywhere. */
  enabled: boolean;
  endpoint?: string;
  resource: Resource;
  spanProcessor: SpanProcessor;
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/** Sets up the global tracer provider; call once per process, before the Temporal client or worker is created. */
export function setUpTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces` : undefined);
  const resource = new Resource({ 'service.name': env.OTEL_SERVICE_NAME ?? serviceName, 'service.namespace': 'slipway' });
  const spanProcessor: SpanProcessor = endpoint !== undefined ? new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }), { scheduledDelayMillis: 1_000 }) : new NoopSpanProcessor();
  if (endpoint !== undefined) {
    // register() also installs the W3C trace-context propagator the interceptors carry the trace with.
    new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] }).register({ contextManager: new AsyncLocalStorageContextManager() });
  }
  return {
    enabled: endpoint !== undefined,
    ...(endpoint !== undefined ? { endpoint } : {}),
    resource,
    spanProcessor,
    shutdown: () => spanProcessor.shutdown(),
  };
}
