import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';

/**
 * A stand-in gRPC service for analysis tests: it exports go-grpc-prometheus' metrics and
 * generates synthetic traffic whose rate, error ratio and latency the test controls.
 */
export class FixtureService {
  requestsPerSecond = 50;
  errorRatio = 0;
  latencySeconds = 0.02;
  private readonly registry = new Registry();
  private readonly handled: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  private readonly latency: Histogram<'grpc_service' | 'grpc_method'>;
  private server?: Server;
  private ticker?: NodeJS.Timeout;
  private carry = 0;
  address = '';

  constructor(private readonly method = 'SendMessage') {
    this.handled = new Counter({ name: 'grpc_server_handled_total', help: 'RPCs completed', labelNames: ['grpc_service', 'grpc_method', 'grpc_code'], registers: [this.registry] });
    this.latency = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'RPC latency',
      labelNames: ['grpc_service', 'grpc_method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    // Series exist from the start, so "no traffic" is zero requests rather than no series.
    this.handled.inc({ grpc_service: 'fixture', grpc_method: method, grpc_code: 'OK' }, 0);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      void this.registry.metrics().then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    const tickMs = 50;
    this.ticker = setInterval(() => {
      this.carry += (this.requestsPerSecond * tickMs) / 1000;
      const count = Math.floor(this.carry);
      this.carry -= count;
      for (let i = 0; i < count; i++) {
        const failed = Math.random() < this.errorRatio;
        this.handled.inc({ grpc_service: 'fixture', grpc_method: this.method, grpc_code: failed ? 'Unavailable' : 'OK' });
        this.latency.observe({ grpc_service: 'fixture', grpc_method: this.method }, this.latencySeconds);
      }
    }, tickMs);
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
