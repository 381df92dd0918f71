import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { ListenConfig } from './config';
import { GrpcServerMetrics } from './grpcMetrics';
import { startHttpServer, type Probes } from './httpServer';
import type { Logger } from './log';

export interface RunningServer {
  grpcPort: number;
  httpPort: number;
  /** Stops taking calls, lets running ones finish (up to graceMs), then closes both ports. */
  stop(graceMs?: number): Promise<void>;
}

export interface GrpcService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/** The gRPC port with its metrics interceptor, and the HTTP port with health, readiness and metrics. */
export async function serve(options: { listen: ListenConfig; log: Logger; services: GrpcService[]; probes: Probes; registry?: Registry }): Promise<RunningServer> {
  const registry = options.registry ?? new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new GrpcServerMetrics(registry, options.log);
  const grpcServer = new Server({ interceptors: [metrics.interceptor] });
  for (const service of options.services) {
    metrics.initialize(service.definition);
    grpcServer.addService(service.definition, service.implementation);
  }
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`${options.listen.host}:${options.listen.grpcPort}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  let serving = true;
  const http = await startHttpServer({
    host: options.listen.host,
    port: options.listen.httpPort,
    registry,
    probes: { ready: async () => serving && (await options.probes.ready()) },
  }).catch((err: Error) => {
    grpcServer.forceShutdown();
    throw err;
  });
  return {
    grpcPort,
    httpPort: http.port,
    async stop(graceMs = 5_000) {
      serving = false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, graceMs);
        grpcServer.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      http.server.closeAllConnections();
      await new Promise((resolve) => http.server.close(resolve));
    },
  };
}

/** SIGTERM or SIGINT runs `shutdown` once and exits; a second signal exits at once. */
export function exitOnSignals(shutdown: () => Promise<void>, log: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info('shutting down', { signal });
    shutdown().then(
      () => process.exit(0),
      (err: Error) => {
        log.error('shutdown failed', { error: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
