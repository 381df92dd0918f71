import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Counter, Histogram, Registry } from 'prom-client';

/** The sample's notifications proto: what the world's load generator calls. */
export const NOTIFICATIONS = { root: join(__dirname, '../../world/sample'), proto: 'services/notifications/proto/notifications.proto', service: 'sample.notifications.v1.Notifications' };

/** The sample services' buckets (world/sample/services/.../grpcMetrics.ts). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface VersionBehaviour {
  /** Mean latency of a call. */
  latencyMs: number;
  /** Each call's latency is spread evenly over ±jitter of the mean (default 0.15). */
  jitter?: number;
  /** Every 1/errorRatio-th call fails with UNAVAILABLE (0: none). */
  errorRatio?: number;
}

/**
 * One version of the notifications service for baseline tests: real gRPC on a loopback port,
 * go-grpc-prometheus metrics on /metrics, and a latency and error ratio that are what the version is.
 */
export class GrpcVersion {
  grpc = '';
  metrics = '';
  private readonly registry = new Registry();
  private readonly server = new Server();
  private http?: HttpServer;
  private calls = 0;
  /** A fixed seed: the same version behaves the same in every run of the test. */
  private seed = 0x2f6b3c1d;

  constructor(private readonly behaviour: VersionBehaviour) {
    const handled = new Counter({ name: 'grpc_server_handled_total', help: 'RPCs completed', labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'], registers: [this.registry] });
    const handling = new Histogram({ name: 'grpc_server_handling_seconds', help: 'RPC latency', labelNames: ['grpc_type', 'grpc_service', 'grpc_method'], buckets: BUCKETS, registers: [this.registry] });
    const definition = loadSync(join(NOTIFICATIONS.root, NOTIFICATIONS.proto), { keepCase: false, defaults: true })[NOTIFICATIONS.service] as ServiceDefinition;
    const implementation: UntypedServiceImplementation = {};
    for (const name of Object.keys(definition)) {
      const labels = { grpc_type: 'unary', grpc_service: NOTIFICATIONS.service, grpc_method: name };
      handled.inc({ ...labels, grpc_code: 'OK' }, 0);
      implementation[name] = (_call: unknown, callback: (error: { code: number; details: string } | null, reply?: object) => void) => {
        const failing = (this.behaviour.errorRatio ?? 0) > 0 && ++this.calls % Math.round(1 / (this.behaviour.errorRatio ?? 1)) === 0;
        const seconds = (this.behaviour.latencyMs * (1 + (this.behaviour.jitter ?? 0.15) * (2 * this.random() - 1))) / 1000;
        setTimeout(() => {
          // The version's own latency is recorded, not the timer's: a busy test machine must not change what a version is.
          handling.observe(labels, seconds);
          handled.inc({ ...labels, grpc_code: failing ? 'Unavailable' : 'OK' });
          if (failing) callback({ code: status.UNAVAILABLE, details: 'injected failure' });
          else callback(null, {});
        }, seconds * 1000);
      };
    }
    this.server.addService(definition, implementation);
  }

  async start(): Promise<this> {
    const port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
    this.grpc = `127.0.0.1:${port}`;
    this.http = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      void this.registry.metrics().then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text));
    });
    await new Promise<void>((resolve) => this.http?.listen(0, '127.0.0.1', resolve));
    this.metrics = `127.0.0.1:${(this.http.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
    await new Promise((resolve) => this.http?.close(resolve));
  }

  /** mulberry32: small and seeded. */
  private random(): number {
    let t = (this.seed = (this.seed + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
