/**
 * The local world a feature run delivers into, under one dir: an OCI registry, a Kubernetes control
 * plane (namespaces dev, staging, production), the local kubelet with its Service proxy, Prometheus
 * scraping the pods, and whatever extras are plugged in (sample repo, databases, load generator).
 * Started in dependency order and stopped in reverse; every piece of state (etcd data, registry
 * blobs, TSDB, port choices) stays in the dir, so a second start picks up where the first stopped.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { ensureCrane } from '../scripts/crane';
import { ensureKubernetes, startControlPlane, type KubeBinaries } from '../scripts/kubernetes';
import { ensurePrometheus } from '../scripts/prometheus';
import { ensureRegistry } from '../scripts/registry';
import { writeFileAtomic } from './atomicFile';
import { identify, isAlive, stopGroup, type ProcessIdentity } from './hostProcess';
import { LocalKubelet } from './kubelet';
import { startWorldPrometheus, targetsDir } from './prometheus';
import { startRegistry } from './registry';
import type { PublishedService } from './serviceProxy';

export const WORLD_CONTEXT = 'slipway-world';
export const WORLD_NODE = 'slipway-world';
export const WORLD_NAMESPACES = ['dev', 'staging', 'production'] as const;
export const DEFAULT_PORTS = { registry: 5001, prometheus: 9091 } as const;

export interface World {
  dir: string;
  /** host:port of the registry; image references start with it. */
  registry: string;
  /** crane, for building images into the registry (world/images.ts). */
  crane: string;
  kubeconfig: string;
  kubeContext: typeof WORLD_CONTEXT;
  /** The Node whose pods the local kubelet runs. */
  nodeName: string;
  prometheusUrl: string;
  /** `[{ namespace, service, ports: { <portName>: "127.0.0.1:<port>" } }]`, kept current by the Service proxy. */
  servicesFile: string;
  /** Environment for tools and processes that use the world (kubectl, the worker, verification). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface WorldExtra {
  name: string;
  /** Starts the piece once the core world is up; `summary` is shown on its progress line. */
  start(world: World): Promise<{ stop(): Promise<void>; summary: string }>;
}

export interface WorldOptions {
  /** e.g. <checkout>/.slipway/world */
  dir: string;
  /** Remembered in the dir once chosen; defaults 5001 and 9091 on a first start. */
  ports?: { registry?: number; prometheus?: number };
  /** One human line per component. */
  progress?: (line: string) => void;
  extras?: WorldExtra[];
  /** Prometheus scrape interval (default 5s). */
  scrapeInterval?: string;
  /** Restart back-off of the local kubelet (default 10 s doubling to 5 min). */
  kubeletBackoff?: { initialMs: number; maxMs: number };
  /** Tool paths; by default each is found or built once by its installer in scripts/. */
  tools?: { registry?: string; crane?: string; kubernetes?: KubeBinaries; prometheus?: string };
}

/** What `<dir>/world.json` keeps between starts. */
interface WorldFile {
  ports: { registry: number; prometheus: number };
}

/** What `<dir>/processes.json` says about a running world: its owner and the processes it started. */
interface ProcessesFile {
  owner: ProcessIdentity;
  processes: { name: string; proc: ProcessIdentity }[];
}

/** Worlds this process runs, by dir: a second start of the same dir is refused, as from another process. */
const runningHere = new Set<string>();

const line = (name: string, address: string, state: string) => `${name.padEnd(14)}${address.padEnd(17)}${state}`;

export async function startWorld(options: WorldOptions): Promise<World> {
  const dir = resolve(options.dir);
  const progress = options.progress ?? (() => undefined);
  await mkdir(dir, { recursive: true });
  if (runningHere.has(dir)) throw new Error(`a world is already running from ${dir} in this process; stop it first`);
  await takeOver(dir, progress);
  runningHere.add(dir);
  const saved = existsSync(join(dir, 'world.json')) ? (JSON.parse(await readFile(join(dir, 'world.json'), 'utf8')) as WorldFile) : undefined;
  const ports = {
    registry: options.ports?.registry ?? saved?.ports.registry ?? DEFAULT_PORTS.registry,
    prometheus: options.ports?.prometheus ?? saved?.ports.prometheus ?? DEFAULT_PORTS.prometheus,
  };
  await writeFileAtomic(join(dir, 'world.json'), JSON.stringify({ ports } satisfies WorldFile, null, 2) + '\n');

  const stoppers: { name: string; stop(): Promise<void> }[] = [];
  const tracked: ProcessesFile = { owner: identify(process.pid)!, processes: [] };
  const saveProcesses = () => writeFileAtomic(join(dir, 'processes.json'), JSON.stringify(tracked, null, 2) + '\n');
  const track = async (name: string, pid: number | undefined) => {
    const proc = identify(pid);
    if (proc) tracked.processes.push({ name, proc });
    await saveProcesses();
  };
  await saveProcesses();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const piece of [...stoppers].reverse()) {
      await piece.stop().catch((err: Error) => progress(line(piece.name, '', `failed to stop: ${err.message}`)));
      progress(line(piece.name, '', 'stopped'));
    }
    // Anything a piece failed to stop goes now: nothing of the world outlives stop().
    for (const { proc } of tracked.processes) if (isAlive(proc)) await stopGroup(proc, 2_000);
    await rm(join(dir, 'processes.json'), { force: true });
    runningHere.delete(dir);
  };

  try {
    const tools = {
      registry: options.tools?.registry ?? (await ensureRegistry(progress)),
      crane: options.tools?.crane ?? (await ensureCrane(progress)),
      kubernetes: options.tools?.kubernetes ?? (await ensureKubernetes(progress)),
      prometheus: options.tools?.prometheus ?? (await ensurePrometheus(progress)).prometheus,
    };

    await mustBeFree(ports.registry, 'registry');
    const registry = await startRegistry({ binary: tools.registry, dir: join(dir, 'registry'), port: ports.registry, detached: true });
    stoppers.push({ name: 'registry', stop: registry.stop });
    await track('registry', registry.process.pid);
    progress(line('registry', registry.address, 'ready'));

    const plane = await startControlPlane(tools.kubernetes, {
      dir: join(dir, 'kube'),
      persistent: true,
      nodes: 0,
      localNodes: [WORLD_NODE],
      context: WORLD_CONTEXT,
      namespaces: [...WORLD_NAMESPACES],
      detached: true,
    });
    stoppers.push({ name: 'kubernetes', stop: plane.stop });
    for (const child of plane.processes) await track(`kubernetes/${child.spawnfile.split('/').pop()}`, child.pid);
    progress(line('kubernetes', plane.server.replace('https://', ''), `ready (context ${WORLD_CONTEXT}, namespaces ${WORLD_NAMESPACES.join(', ')})`));

    const prometheusDir = join(dir, 'prometheus');
    // The API server's self-signed certificate also serves the kubelet's log endpoint (kubectl logs).
    const [cert, key] = await Promise.all(['apiserver.crt', 'apiserver.key'].map((f) => readFile(join(dir, 'kube', 'certs', f), 'utf8')));
    const kubelet = new LocalKubelet({
      kubeconfig: plane.kubeconfig,
      context: WORLD_CONTEXT,
      nodeName: WORLD_NODE,
      dir: join(dir, 'kubelet'),
      crane: tools.crane,
      targetsFile: join(targetsDir(prometheusDir), 'pods.json'),
      server: { cert: cert!, key: key! },
      logger: pino({ level: 'info' }, pino.destination({ dest: join(dir, 'kubelet', 'kubelet.log'), mkdir: true, sync: false })),
      ...(options.kubeletBackoff ? { backoff: options.kubeletBackoff } : {}),
    });
    await kubelet.start();
    stoppers.push({ name: 'kubelet', stop: () => kubelet.stop() });
    progress(line('kubelet', `node ${WORLD_NODE}`, `ready (services in ${kubelet.servicesFile})`));

    await mustBeFree(ports.prometheus, 'prometheus');
    const prometheus = await startWorldPrometheus({ binary: tools.prometheus, dir: prometheusDir, port: ports.prometheus, scrapeInterval: options.scrapeInterval, detached: true });
    stoppers.push({ name: 'prometheus', stop: prometheus.stop });
    await track('prometheus', prometheus.process.pid);
    progress(line('prometheus', prometheus.url.replace('http://', ''), 'ready'));

    const world: World = {
      dir,
      registry: registry.address,
      crane: tools.crane,
      kubeconfig: plane.kubeconfig,
      kubeContext: WORLD_CONTEXT,
      nodeName: WORLD_NODE,
      prometheusUrl: prometheus.url,
      servicesFile: kubelet.servicesFile,
      env: {
        KUBECONFIG: plane.kubeconfig,
        SLIPWAY_WORLD_DIR: dir,
        SLIPWAY_WORLD_REGISTRY: registry.address,
        SLIPWAY_WORLD_PROMETHEUS_URL: prometheus.url,
        SLIPWAY_WORLD_SERVICES_FILE: kubelet.servicesFile,
        SLIPWAY_WORLD_CRANE: tools.crane,
      },
      stop,
    };
    for (const extra of options.extras ?? []) {
      const started = await extra.start(world);
      stoppers.push({ name: extra.name, stop: started.stop });
      progress(line(extra.name, '', started.summary));
    }
    return world;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Refuses to start over a running world; kills what a world that died without stopping left behind. */
async function takeOver(dir: string, progress: (line: string) => void): Promise<void> {
  const file = join(dir, 'processes.json');
  if (!existsSync(file)) return;
  const previous = JSON.parse(await readFile(file, 'utf8')) as ProcessesFile;
  if (isAlive(previous.owner) && previous.owner.pid !== process.pid) {
    // Another live process owns it; a file naming this process is from a world whose stop() never ran.
    throw new Error(`a world is already running from ${dir} (process ${previous.owner.pid}); stop it first`);
  }
  for (const { name, proc } of previous.processes) {
    if (!isAlive(proc)) continue;
    progress(line(name, '', `left over from a world that did not stop (pid ${proc.pid}); stopping it`));
    await stopGroup(proc, 5_000);
  }
  await rm(file, { force: true });
}

async function mustBeFree(port: number, what: string): Promise<void> {
  await new Promise<void>((ok, fail) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(new Error(`port ${port} for the world's ${what} is ${err.code === 'EADDRINUSE' ? 'in use' : `unusable (${err.message})`}; free it or choose another port for the ${what}`)),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => ok()));
  });
}

export interface WorldStatus {
  dir: string;
  running: boolean;
  /** The process that started the world, while it runs. */
  owner?: number;
  ports?: WorldFile['ports'];
  processes: { name: string; pid: number; alive: boolean }[];
  services: PublishedService[];
}

/** What is running in the world at `dir`, from its files and /proc (no process needs to answer). */
export async function worldStatus(dir: string): Promise<WorldStatus> {
  const root = resolve(dir);
  const read = async <T>(file: string): Promise<T | undefined> => (existsSync(join(root, file)) ? (JSON.parse(await readFile(join(root, file), 'utf8')) as T) : undefined);
  const [saved, running, services] = await Promise.all([read<WorldFile>('world.json'), read<ProcessesFile>('processes.json'), read<PublishedService[]>('kubelet/services.json')]);
  const ownerAlive = running !== undefined && isAlive(running.owner);
  return {
    dir: root,
    running: ownerAlive,
    ...(ownerAlive ? { owner: running.owner.pid } : {}),
    ...(saved ? { ports: saved.ports } : {}),
    processes: (running?.processes ?? []).map(({ name, proc }) => ({ name, pid: proc.pid, alive: isAlive(proc) })),
    services: ownerAlive ? (services ?? []) : [],
  };
}
