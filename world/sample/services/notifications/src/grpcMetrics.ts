import { ServerInterceptingCall, ServerListenerBuilder, status, type ServerInterceptor, type ServiceDefinition } from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from './log';

/**
 * Server metrics named and labelled like go-grpc-prometheus, so dashboards, alerts and
 * Slipway's SLO queries written for Go services read these too.
 */

/** Code names as Go's codes.Code.String() spells them (the grpc_code label values). */
const CODE_NAMES: Record<number, string> = {
  [status.OK]: 'OK',
  [status.CANCELLED]: 'Canceled',
  [status.UNKNOWN]: 'Unknown',
  [status.INVALID_ARGUMENT]: 'InvalidArgument',
  [status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [status.NOT_FOUND]: 'NotFound',
  [status.ALREADY_EXISTS]: 'AlreadyExists',
  [status.PERMISSION_DENIED]: 'PermissionDenied',
  [status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [status.ABORTED]: 'Aborted',
  [status.OUT_OF_RANGE]: 'OutOfRange',
  [status.UNIMPLEMENTED]: 'Unimplemented',
  [status.INTERNAL]: 'Internal',
  [status.UNAVAILABLE]: 'Unavailable',
  [status.DATA_LOSS]: 'DataLoss',
  [status.UNAUTHENTICATED]: 'Unauthenticated',
};

export const codeName = (code: number): string => CODE_NAMES[code] ?? 'Unknown';

/** Sub-millisecond to ten seconds: a cache hit and a stuck query both land in a bucket of their own. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

function grpcType(requestStream: boolean, responseStream: boolean): GrpcType {
  if (requestStream) return responseStream ? 'bidi_stream' : 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}

/** "/sample.messages.v1.Messages/SendMessage" → service and method. */
function splitPath(path: string): { service: string; method: string } {
  const [, service = 'unknown', method = 'unknown'] = path.split('/');
  return { service, method };
}

export class GrpcServerMetrics {
  private readonly started: Counter<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  private readonly handled: Counter<'grpc_type' | 'grpc_service' | 'grpc_method' | 'grpc_code'>;
  private readonly handling: Histogram<'grpc_type' | 'grpc_service' | 'grpc_method'>;

  constructor(registry: Registry, private readonly log: Logger) {
    this.started = new Counter({
      name: 'grpc_server_started_total',
      help: 'Total number of RPCs started on the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers: [registry],
    });
    this.handled = new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers: [registry],
    });
    this.handling = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      buckets: BUCKETS,
      registers: [registry],
    });
  }

  /** Creates every method's series at zero, as go-grpc-prometheus' InitializeMetrics does: no traffic reads as 0, not as no data. */
  initialize(service: ServiceDefinition): void {
    for (const method of Object.values(service)) {
      const { service: grpc_service, method: grpc_method } = splitPath(method.path);
      const labels = { grpc_type: grpcType(method.requestStream, method.responseStream), grpc_service, grpc_method };
      this.started.inc(labels, 0);
      this.handling.zero(labels);
      for (const code of Object.values(CODE_NAMES)) this.handled.inc({ ...labels, grpc_code: code }, 0);
    }
  }

  /** Counts every call when it starts and when its status is sent, whatever the handler did. */
  readonly interceptor: ServerInterceptor = (descriptor, call) => {
    const { service: grpc_service, method: grpc_method } = splitPath(descriptor.path);
    const labels = { grpc_type: grpcType(descriptor.requestStream, descriptor.responseStream), grpc_service, grpc_method };
    const startedAt = performance.now();
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      const seconds = (performance.now() - startedAt) / 1000;
      this.handled.inc({ ...labels, grpc_code: codeName(code) });
      this.handling.observe(labels, seconds);
      this.log.debug('rpc', { method: `${grpc_service}/${grpc_method}`, code: codeName(code), ms: Math.round(seconds * 1000) });
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        this.started.inc(labels);
        next(new ServerListenerBuilder().withOnCancel(() => finish(status.CANCELLED)).build());
      },
      sendStatus: (outcome, next) => {
        finish(outcome.code);
        next(outcome);
      },
    });
  };
}
