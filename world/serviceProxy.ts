/**
 * The kube-proxy stand-in: each port of each Service with a selector gets a loopback port (chosen
 * once, remembered across restarts) that forwards TCP connections round-robin to the Ready pods
 * the selector matches, through the host ports the local kubelet gave them. The addresses are
 * published in services.json for the load generator and post-deploy verification.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { V1Service } from '@kubernetes/client-node';
import { freePort } from '../scripts/temporal';
import { writeFileAtomic } from './atomicFile';
import type { ServiceEnv } from './podEnv';

/** One entry of services.json. */
export interface PublishedService {
  namespace: string;
  service: string;
  /** Port name (or the port number for an unnamed port) → "127.0.0.1:<port>". */
  ports: Record<string, string>;
}

/** A pod the proxy may send traffic to: its labels, readiness and host ports. */
export interface Endpoint {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ready: boolean;
  /** The host port behind a targetPort (number or name), or undefined when the pod has no such port. */
  resolve(targetPort: number | string): number | undefined;
}

interface Listener {
  key: string;
  server: Server;
  targetPort: number | string;
  selector: Record<string, string>;
  namespace: string;
  next: number;
}

export class ServiceProxy {
  private readonly listeners = new Map<string, Listener>();
  private readonly services = new Map<string, V1Service>();
  private remembered: Record<string, number> = {};
  private readonly sockets = new Set<Socket>();
  private published = '';

  constructor(
    private readonly options: {
      /** Remembered ports: `<dir>/kubelet/proxy-ports.json`. */
      portsFile: string;
      /** `<dir>/kubelet/services.json`. */
      servicesFile: string;
      endpoints(): Endpoint[];
      onError(message: string): void;
    },
  ) {}

  async load(): Promise<void> {
    if (existsSync(this.options.portsFile)) this.remembered = JSON.parse(await readFile(this.options.portsFile, 'utf8')) as Record<string, number>;
  }

  /** Brings the listeners in line with the Services now known (call after any Service change). */
  async sync(services: readonly V1Service[]): Promise<void> {
    this.services.clear();
    const wanted = new Map<string, { service: V1Service; port: NonNullable<NonNullable<V1Service['spec']>['ports']>[number] }>();
    for (const service of services) {
      const selector = service.spec?.selector;
      if (!selector || Object.keys(selector).length === 0 || service.spec?.type === 'ExternalName') continue;
      this.services.set(`${service.metadata?.namespace}/${service.metadata?.name}`, service);
      for (const port of service.spec?.ports ?? []) {
        if ((port.protocol ?? 'TCP') !== 'TCP') continue;
        wanted.set(portKey(service, port), { service, port });
      }
    }
    for (const [key, listener] of this.listeners) {
      const want = wanted.get(key);
      if (want === undefined) {
        listener.server.close();
        this.listeners.delete(key);
      } else {
        listener.selector = want.service.spec?.selector ?? {};
        listener.targetPort = (want.port.targetPort as number | string | undefined) ?? want.port.port;
      }
    }
    let rememberedChanged = false;
    for (const [key, { service, port }] of wanted) {
      if (this.listeners.has(key)) continue;
      let hostPort = this.remembered[key];
      if (hostPort === undefined) {
        hostPort = await freePort();
        this.remembered[key] = hostPort;
        rememberedChanged = true;
      }
      const listener: Listener = {
        key,
        server: createServer((socket) => this.forward(listener, socket)),
        targetPort: (port.targetPort as number | string | undefined) ?? port.port,
        selector: service.spec?.selector ?? {},
        namespace: service.metadata?.namespace ?? 'default',
        next: 0,
      };
      try {
        await new Promise<void>((resolve, reject) => {
          listener.server.once('error', reject);
          listener.server.listen(hostPort, '127.0.0.1', () => resolve());
        });
        listener.server.on('error', (err) => this.options.onError(`service proxy ${key}: ${err.message}`));
        this.listeners.set(key, listener);
      } catch (err) {
        this.options.onError(`service proxy ${key} cannot listen on 127.0.0.1:${hostPort}: ${(err as Error).message}`);
      }
    }
    if (rememberedChanged) await writeFileAtomic(this.options.portsFile, JSON.stringify(this.remembered, null, 2) + '\n');
    await this.publish();
  }

  /** The Service variables a pod of `namespace` gets, pointing at this proxy. */
  serviceEnv(namespace: string): ServiceEnv[] {
    const result: ServiceEnv[] = [];
    for (const service of this.services.values()) {
      if (service.metadata?.namespace !== namespace) continue;
      const ports = (service.spec?.ports ?? [])
        .map((port) => ({ name: port.name, port: this.listeners.has(portKey(service, port)) ? this.remembered[portKey(service, port)] : undefined }))
        .filter((p): p is { name: string | undefined; port: number } => p.port !== undefined)
        .map((p) => (p.name ? { name: p.name, port: p.port } : { port: p.port }));
      if (ports.length > 0) result.push({ name: service.metadata?.name ?? '', ports });
    }
    return result.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([...this.listeners.values()].map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
    this.listeners.clear();
  }

  private async publish(): Promise<void> {
    const entries: PublishedService[] = [];
    for (const service of this.services.values()) {
      const ports: Record<string, string> = {};
      for (const port of service.spec?.ports ?? []) {
        const key = portKey(service, port);
        if (this.listeners.has(key)) ports[port.name || String(port.port)] = `127.0.0.1:${this.remembered[key]}`;
      }
      if (Object.keys(ports).length > 0) entries.push({ namespace: service.metadata?.namespace ?? 'default', service: service.metadata?.name ?? '', ports });
    }
    entries.sort((a, b) => (`${a.namespace}/${a.service}` < `${b.namespace}/${b.service}` ? -1 : 1));
    const text = JSON.stringify(entries, null, 2) + '\n';
    if (text === this.published && existsSync(this.options.servicesFile)) return;
    await writeFileAtomic(this.options.servicesFile, text);
    this.published = text;
  }

  private forward(listener: Listener, client: Socket): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    const candidates = this.options
      .endpoints()
      .filter((e) => e.ready && e.namespace === listener.namespace && Object.entries(listener.selector).every(([k, v]) => e.labels[k] === v))
      .map((e) => e.resolve(listener.targetPort))
      .filter((port): port is number => port !== undefined);
    if (candidates.length === 0) {
      // As kube-proxy rejects a Service without ready endpoints: the connection is refused at once.
      client.destroy();
      return;
    }
    const start = listener.next++ % candidates.length;
    const order = [...candidates.slice(start), ...candidates.slice(0, start)];
    client.pause();
    const attempt = (i: number) => {
      const port = order[i];
      if (port === undefined || client.destroyed) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: '127.0.0.1', port });
      this.sockets.add(upstream);
      upstream.once('close', () => this.sockets.delete(upstream));
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on('error', () => {
        if (!connected) attempt(i + 1);
        else client.destroy();
      });
      upstream.once('close', () => {
        if (connected) client.end();
      });
      client.once('close', () => upstream.destroy());
    };
    attempt(0);
  }
}

const portKey = (service: V1Service, port: { name?: string; port: number }) => `${service.metadata?.namespace}/${service.metadata?.name}/${port.name || port.port}`;
