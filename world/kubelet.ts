/**
 * The local kubelet: a declared stand-in that runs the Pods bound to the world's node as host
 * processes instead of containers. It pulls each image by digest from the registry and unpacks it,
 * runs the entrypoint in its own process group with the unpacked filesystem as working tree (the
 * host supplies the language runtime, e.g. `node` from the host PATH), gives every declared
 * containerPort a free host port (all pods share the host network), probes, restarts with back-off,
 * and reports Pod status through the status subresource exactly where a real kubelet would, so the
 * Deployment controller rolls out and rolls back as it does on a real cluster.
 *
 * Not supported (a pod that needs them gets a clear error or goes without): init containers,
 * volumes (nothing is mounted), exec and gRPC probes, resource limits, `kubectl exec/attach/port-forward`
 * (`kubectl logs` works when `server` is given; logs are also files under <dir>/logs). Pods of one image
 * share its unpacked filesystem, so a process should not write into it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type CoreV1Event,
  type KubernetesObject,
  type V1Container,
  type V1ContainerState,
  type V1Pod,
  type V1Probe,
  type V1Service,
} from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
import { writeFileAtomic } from './atomicFile';
import { identify, isAlive, stopGroup, type ProcessIdentity } from './hostProcess';
import { pullImage, type PulledImage } from './images';
import { ContainerConfigError, containerEnvironment, expand, type EnvSources, type PodPorts } from './podEnv';
import { startKubeletServer, type LogLookup } from './kubeletServer';
import { runProbe } from './probes';
import { scrapeTarget, TargetsFile } from './prometheusTargets';
import { ServiceProxy, type Endpoint } from './serviceProxy';
import { freePort } from '../scripts/temporal';

export interface KubeletOptions {
  kubeconfig: string;
  /** Context in the kubeconfig (default: its current context). */
  context?: string;
  /** The Node whose pods this kubelet runs. */
  nodeName: string;
  /** Holds state.json, images/, logs/, services.json and proxy-ports.json. */
  dir: string;
  crane: string;
  /** Prometheus file_sd file the kubelet keeps current, e.g. <world>/prometheus/targets/pods.json. */
  targetsFile: string;
  /**
   * Serve /containerLogs over HTTPS (what `kubectl logs` reaches through the API server) with this
   * certificate, on `port` or one chosen once and kept in <dir>/server.json; the Node's
   * daemonEndpoints are set to it. Without it, logs are only files under <dir>/logs.
   */
  server?: { cert: string; key: string; port?: number };
  /** Restart back-off: the first restart is immediate, then initialMs doubling up to maxMs (a kubelet's 10 s and 5 min by default). */
  backoff?: { initialMs: number; maxMs: number };
  logger?: Logger;
}

type Terminated = { exitCode: number; signal?: string; reason: string; message?: string; startedAt: string; finishedAt: string; containerID?: string };
type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string; proc: ProcessIdentity; incarnation: number }
  | ({ kind: 'terminated' } & Terminated);

interface ContainerRun {
  name: string;
  state: ContainerState;
  lastState?: Terminated;
  restartCount: number;
  /** Started at least once (by us or, before a restart of the kubelet, by the kubelet before us). */
  everStarted: boolean;
  ready: boolean;
  /** The startup probe passed (true at once without one). */
  started: boolean;
  incarnation: number;
  /** The delay before the next restart after an exit: 0 for the first, then the back-off steps. */
  backoffMs: number;
  /** The back-off window now running, for the CrashLoopBackOff message. */
  windowMs: number;
  /** No restart before this time (ms since epoch). */
  notBefore: number;
  image?: PulledImage;
  /** The spec's image reference `image` was pulled for; a different one in the spec means a new container. */
  imageRef?: string;
  pull?: { failures: number; notBefore: number; message: string };
  /** Why the last start failed (CreateContainerConfigError, CreateContainerError, RunContainerError). */
  createError?: { reason: string; message: string; notBefore: number };
  child?: ChildProcess;
  /** Set when the kubelet itself stops the process (deletion, liveness): its exit needs no back-off. */
  killedBy?: string;
}

interface PodRun {
  uid: string;
  namespace: string;
  name: string;
  pod: V1Pod;
  ports: PodPorts;
  containers: Map<string, ContainerRun>;
  startTime: string;
  transitions: Record<string, { status: string; at: string }>;
  reported?: string;
  terminating?: Promise<void>;
  deleted?: boolean;
  syncing: boolean;
  dirty: boolean;
}

/** What survives a restart of the kubelet: which processes it started for which pod. */
interface KubeletState {
  pods: Record<string, { namespace: string; name: string; ports: PodPorts; containers: Record<string, { proc: ProcessIdentity; startedAt: string; restartCount: number }> }>;
}

export class LocalKubelet {
  private readonly core: CoreV1Api;
  private readonly kc: KubeConfig;
  private readonly log: Logger;
  private readonly runs = new Map<string, PodRun>();
  private readonly pulls = new Map<string, Promise<PulledImage>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly events = new Map<string, { name: string; count: number; at: number }>();
  private podWatch?: ListWatch<V1Pod>;
  private serviceWatch?: ListWatch<V1Service>;
  private proxy: ServiceProxy;
  private targets: TargetsFile;
  private adoptable: KubeletState['pods'] = {};
  private stopped = false;
  private ticker?: NodeJS.Timeout;
  private server?: { port: number; close(): Promise<void> };
  private savingState: Promise<void> = Promise.resolve();
  private syncingServices: Promise<void> = Promise.resolve();
  private readonly backoff: { initialMs: number; maxMs: number };

  constructor(private readonly options: KubeletOptions) {
    this.kc = new KubeConfig();
    this.kc.loadFromFile(options.kubeconfig);
    if (options.context) this.kc.setCurrentContext(options.context);
    this.core = this.kc.makeApiClient(CoreV1Api);
    mkdirSync(join(options.dir, 'logs'), { recursive: true });
    this.log = options.logger ?? pino({ level: 'info' }, pino.destination({ dest: join(options.dir, 'kubelet.log'), mkdir: true, sync: false }));
    this.backoff = options.backoff ?? { initialMs: 10_000, maxMs: 300_000 };
    this.proxy = new ServiceProxy({
      portsFile: join(options.dir, 'proxy-ports.json'),
      servicesFile: this.servicesFile,
      endpoints: () => this.endpoints(),
      onError: (message) => this.log.warn({ message }, 'service proxy'),
    });
    this.targets = new TargetsFile(options.targetsFile);
  }

  get servicesFile(): string {
    return join(this.options.dir, 'services.json');
  }

  /** Lists Services and Pods, adopts or kills what an earlier kubelet left running, then keeps everything in line. */
  async start(): Promise<void> {
    const stateFile = join(this.options.dir, 'state.json');
    if (existsSync(stateFile)) this.adoptable = (JSON.parse(await readFile(stateFile, 'utf8')) as KubeletState).pods;
    await this.proxy.load();
    const watch = new Watch(this.kc);
    this.serviceWatch = new ListWatch<V1Service>('/api/v1/services', watch, () => this.core.listServiceForAllNamespaces(), false);
    this.serviceWatch.on('change', () => this.syncServices());
    this.restartOnError(this.serviceWatch, 'services');
    await this.serviceWatch.start();
    await this.syncServices();

    this.podWatch = new ListWatch<V1Pod>(
      '/api/v1/pods',
      watch,
      () => this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.options.nodeName}` }),
      false,
      undefined,
      `spec.nodeName=${this.options.nodeName}`,
    );
    this.podWatch.on('add', (pod) => this.observe(pod));
    this.podWatch.on('update', (pod) => this.observe(pod));
    this.podWatch.on('delete', (pod) => this.kick(pod.metadata?.uid ?? ''));
    this.restartOnError(this.podWatch, 'pods');
    await this.podWatch.start();
    await this.killOrphans();
    if (this.options.server) await this.serve(this.options.server);
    this.ticker = setInterval(() => {
      for (const uid of this.runs.keys()) this.kick(uid);
    }, 1_000);
  }

  /** Stops watching and stops every process it runs (SIGTERM, then SIGKILL after the pod's grace period); pods keep their status. */
  async stop(): Promise<void> {
    await this.halt();
    await Promise.all(
      [...this.runs.values()].flatMap((run) =>
        [...run.containers.values()].map((c) => (c.state.kind === 'running' ? stopGroup(c.state.proc, Math.min(graceSeconds(run.pod) * 1000, 10_000)) : undefined)),
      ),
    );
    this.runs.clear();
    await this.saveState();
    await new Promise<void>((resolve) => this.log.flush(() => resolve()));
  }

  /**
   * Stops watching and serving but leaves the pods' processes running, as a crash of the kubelet
   * would; a later kubelet on the same dir adopts them (or kills those no pod wants any more).
   */
  async detach(): Promise<void> {
    await this.halt();
    await this.saveState();
    this.runs.clear();
  }

  /** Stops watching, timers, the proxy and the log server: what stop() and detach() share. */
  private async halt(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const timer of this.timers) clearTimeout(timer);
    await this.podWatch?.stop();
    await this.serviceWatch?.stop();
    await this.proxy.stop();
    await this.server?.close();
  }

  /** The host port behind a pod's containerPort (number) or port name; for tests and tools. */
  hostPort(namespace: string, pod: string, port: number | string): number | undefined {
    const run = [...this.runs.values()].find((r) => r.namespace === namespace && r.name === pod);
    return run ? resolvePort(run.ports, port) : undefined;
  }

  private async serve(tls: { cert: string; key: string; port?: number }): Promise<void> {
    const file = join(this.options.dir, 'server.json');
    const remembered = existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as { port: number }).port : undefined;
    const port = tls.port ?? remembered ?? (await freePort());
    if (port !== remembered) await writeFileAtomic(file, JSON.stringify({ port }) + '\n');
    this.server = await startKubeletServer({ port, cert: tls.cert, key: tls.key, logs: (...args) => this.logLookup(...args) });
    // Where the API server finds this kubelet (the Node's InternalIP is 127.0.0.1).
    await this.core.patchNodeStatus(
      { name: this.options.nodeName, body: { status: { daemonEndpoints: { kubeletEndpoint: { Port: port } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  private logLookup(namespace: string, pod: string, container: string | undefined, previous: boolean): LogLookup {
    const run = [...this.runs.values()].find((r) => r.namespace === namespace && r.name === pod);
    if (!run) return { status: 404, message: `pod ${namespace}/${pod} is not running on node ${this.options.nodeName}` };
    const names = [...run.containers.keys()];
    const name = container ?? (names.length === 1 ? names[0] : undefined);
    if (name === undefined) return { status: 400, message: `a container name must be specified for pod ${pod}, choose one of: [${names.join(' ')}]` };
    const c = run.containers.get(name);
    if (!c) return { status: 400, message: `container ${name} is not valid for pod ${pod}` };
    const count = previous ? c.restartCount - 1 : c.restartCount;
    const file = join(this.logDir(run, name), `${count}.log`);
    if (count < 0 || !existsSync(file)) {
      const waiting = c.state.kind === 'waiting' ? c.state.reason : 'ContainerCreating';
      return { status: 400, message: previous ? `previous terminated container "${name}" in pod "${pod}" not found` : `container "${name}" in pod "${pod}" is waiting to start: ${waiting}` };
    }
    return { file, running: () => !previous && c.state.kind === 'running' && c.restartCount === count };
  }

  private logDir(run: PodRun, container: string): string {
    return join(this.options.dir, 'logs', `${run.namespace}_${run.name}_${run.uid}`, container);
  }

  private restartOnError<T extends KubernetesObject>(informer: ListWatch<T>, what: string): void {
    informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.log.warn({ err: String(err), what }, 'watch failed; restarting it');
      this.later(1_000, () => void informer.start().catch(() => undefined));
    });
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(timer);
  }

  private syncServices(): Promise<void> {
    this.syncingServices = this.syncingServices.then(() => this.proxy.sync(this.serviceWatch?.list() ?? [])).catch((err: Error) => this.log.error({ err: err.message }, 'service proxy sync failed'));
    return this.syncingServices;
  }

  private observe(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid || this.stopped) return;
    if (!this.runs.has(uid)) {
      // A pod that finished before this kubelet saw it has nothing left to run.
      if ((pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') && this.adoptable[uid] === undefined) return;
      this.runs.set(uid, this.newRun(pod));
    }
    this.kick(uid);
  }

  private newRun(pod: V1Pod): PodRun {
    const uid = pod.metadata?.uid ?? '';
    const saved = this.adoptable[uid];
    const run: PodRun = {
      uid,
      namespace: pod.metadata?.namespace ?? 'default',
      name: pod.metadata?.name ?? '',
      pod,
      ports: saved?.ports ?? { byNumber: {}, byName: {} },
      containers: new Map(),
      startTime: pod.status?.startTime ? new Date(pod.status.startTime).toISOString() : new Date().toISOString(),
      transitions: {},
      syncing: false,
      dirty: false,
    };
    for (const c of pod.status?.conditions ?? []) if (c.lastTransitionTime) run.transitions[c.type] = { status: c.status, at: new Date(c.lastTransitionTime).toISOString() };
    for (const spec of pod.spec?.containers ?? []) {
      const status = pod.status?.containerStatuses?.find((s) => s.name === spec.name);
      const everStarted = Boolean(status?.state?.running || status?.state?.terminated || status?.lastState?.terminated);
      const container: ContainerRun = {
        name: spec.name,
        state: { kind: 'waiting', reason: 'ContainerCreating' },
        restartCount: status?.restartCount ?? 0,
        everStarted,
        ready: false,
        started: false,
        incarnation: 0,
        backoffMs: 0,
        windowMs: 0,
        notBefore: 0,
      };
      const previous = status?.lastState?.terminated;
      if (previous) container.lastState = terminatedFrom(previous);
      const adopted = saved?.containers[spec.name];
      if (adopted && isAlive(adopted.proc) && !pod.metadata?.deletionTimestamp) {
        container.restartCount = adopted.restartCount;
        container.everStarted = true;
        container.incarnation = 1;
        container.state = { kind: 'running', startedAt: adopted.startedAt, proc: adopted.proc, incarnation: 1 };
        container.started = !spec.startupProbe;
        container.ready = container.started && !spec.readinessProbe;
        this.watchAdopted(run, container, adopted.proc, 1);
        // Its image is in the cache already; knowing it gives the status its imageID again.
        if (spec.image) {
          container.imageRef = spec.image;
          void this.pull(spec.image).then((image) => (container.image = image), () => undefined);
        }
        this.startProbes(run, container, spec, 1);
        this.log.info({ pod: `${run.namespace}/${run.name}`, container: spec.name, pid: adopted.proc.pid }, 'adopted a running container');
      } else if (everStarted) {
        // Its process is gone (the world was stopped, or it died while no kubelet watched).
        container.lastState = {
          exitCode: 137,
          reason: 'ContainerStatusUnknown',
          message: 'The container could not be located when the kubelet restarted',
          startedAt: status?.state?.running?.startedAt ? new Date(status.state.running.startedAt).toISOString() : run.startTime,
          finishedAt: new Date().toISOString(),
        };
      }
      run.containers.set(spec.name, container);
    }
    return run;
  }

  /** Processes recorded in state.json whose pod no longer wants them: killed, as a kubelet removes orphaned containers. */
  private async killOrphans(): Promise<void> {
    for (const [uid, saved] of Object.entries(this.adoptable)) {
      for (const [name, entry] of Object.entries(saved.containers)) {
        const run = this.runs.get(uid);
        const adopted = run?.containers.get(name)?.state;
        if (adopted?.kind === 'running' && adopted.proc.pid === entry.proc.pid) continue;
        if (isAlive(entry.proc)) {
          this.log.info({ pod: `${saved.namespace}/${saved.name}`, container: name, pid: entry.proc.pid }, 'killing an orphaned container process');
          await stopGroup(entry.proc, 5_000);
        }
      }
    }
    this.adoptable = {};
    await this.saveState();
  }

  private kick(uid: string): void {
    const run = this.runs.get(uid);
    if (!run || this.stopped) return;
    if (run.syncing) {
      run.dirty = true;
      return;
    }
    run.syncing = true;
    void (async () => {
      try {
        do {
          run.dirty = false;
          await this.sync(run);
        } while (run.dirty && !this.stopped);
      } catch (err) {
        this.log.error({ pod: `${run.namespace}/${run.name}`, err: (err as Error).message }, 'pod sync failed');
      } finally {
        run.syncing = false;
      }
    })();
  }

  private async sync(run: PodRun): Promise<void> {
    const current = this.podWatch?.get(run.name, run.namespace);
    if (!current || current.metadata?.uid !== run.uid) {
      // Deleted without a grace period (or by us, after the containers stopped): nothing may keep running.
      await this.stopContainers(run, 2_000, 'the pod was deleted');
      this.runs.delete(run.uid);
      for (const key of this.events.keys()) if (key.startsWith(`${run.uid}/`)) this.events.delete(key);
      await Promise.all([this.saveState(), this.publishTargets()]);
      return;
    }
    run.pod = current;
    if (run.deleted) return;
    if (current.metadata?.deletionTimestamp) {
      run.terminating ??= this.terminate(run).catch((err: Error) => {
        // Tried again on the next sync.
        this.log.warn({ pod: `${run.namespace}/${run.name}`, err: err.message }, 'confirming the deletion failed');
        run.terminating = undefined;
      });
      return;
    }
    const policy = current.spec?.restartPolicy ?? 'Always';
    for (const spec of current.spec?.containers ?? []) {
      const c = run.containers.get(spec.name);
      if (!c) continue;
      if (c.state.kind === 'running') {
        if (c.imageRef !== undefined && c.imageRef !== spec.image) await this.replaceContainer(run, c);
        continue;
      }
      if (c.state.kind === 'terminated') {
        if (policy === 'Never' || (policy === 'OnFailure' && c.state.exitCode === 0)) continue;
        c.lastState = stripKind(c.state);
        if (Date.now() < c.notBefore) {
          const message = `back-off ${Math.round(c.windowMs / 1000)}s restarting failed container=${c.name} pod=${run.name}_${run.namespace}(${run.uid})`;
          c.state = { kind: 'waiting', reason: 'CrashLoopBackOff', message };
          this.event(run, spec.name, 'Warning', 'BackOff', 'Back-off restarting failed container');
          this.later(c.notBefore - Date.now() + 10, () => this.kick(run.uid));
          continue;
        }
      } else if (c.state.reason === 'CrashLoopBackOff' && Date.now() < c.notBefore) {
        continue;
      }
      await this.startContainer(run, c, spec);
    }
    await this.report(run);
  }

  private async startContainer(run: PodRun, c: ContainerRun, spec: V1Container): Promise<void> {
    if (!c.image) {
      if (c.pull && Date.now() < c.pull.notBefore) {
        c.state = { kind: 'waiting', reason: 'ImagePullBackOff', message: `Back-off pulling image "${spec.image}": ${c.pull.message}` };
        return;
      }
      if (spec.image === undefined || spec.image === '') {
        c.state = { kind: 'waiting', reason: 'InvalidImageName', message: 'the container names no image' };
        return;
      }
      try {
        c.state = { kind: 'waiting', reason: 'ContainerCreating' };
        await this.report(run);
        c.image = await this.pull(spec.image);
        c.imageRef = spec.image;
        c.pull = undefined;
        this.event(run, spec.name, 'Normal', 'Pulled', `Container image "${spec.image}" is present as ${c.image.pinned}`);
      } catch (err) {
        const failures = (c.pull?.failures ?? 0) + 1;
        const message = (err as Error).message;
        c.pull = { failures, message, notBefore: Date.now() + Math.min(this.backoff.initialMs * 2 ** (failures - 1), this.backoff.maxMs) };
        c.state = { kind: 'waiting', reason: 'ErrImagePull', message };
        this.event(run, spec.name, 'Warning', 'Failed', `Failed to pull image "${spec.image}": ${message}`);
        this.later(c.pull.notBefore - Date.now() + 10, () => this.kick(run.uid));
        return;
      }
    }
    if (c.createError && Date.now() < c.createError.notBefore) {
      c.state = { kind: 'waiting', reason: c.createError.reason, message: c.createError.message };
      return;
    }
    try {
      await this.allocatePorts(run);
      await this.launch(run, c, spec, c.image);
      c.createError = undefined;
    } catch (err) {
      const reason = err instanceof ContainerConfigError ? 'CreateContainerConfigError' : err instanceof RunContainerError ? 'RunContainerError' : 'CreateContainerError';
      const message = (err as Error).message;
      c.createError = { reason, message, notBefore: Date.now() + Math.min(this.backoff.initialMs, 10_000) };
      c.state = { kind: 'waiting', reason, message };
      this.event(run, spec.name, 'Warning', 'Failed', `Error: ${message}`);
      this.later(Math.min(this.backoff.initialMs, 10_000) + 10, () => this.kick(run.uid));
    }
  }

  private pull(reference: string): Promise<PulledImage> {
    const key = reference;
    let pending = this.pulls.get(key);
    if (!pending) {
      pending = pullImage(this.options.crane, reference, join(this.options.dir, 'images')).finally(() => this.pulls.delete(key));
      this.pulls.set(key, pending);
    }
    return pending;
  }

  /** Every declared containerPort of the pod gets a host port, once for the pod's life. */
  private async allocatePorts(run: PodRun): Promise<void> {
    for (const spec of run.pod.spec?.containers ?? []) {
      for (const port of spec.ports ?? []) {
        if ((port.protocol ?? 'TCP') !== 'TCP') continue;
        const key = String(port.containerPort);
        run.ports.byNumber[key] ??= await freePort();
        if (port.name) run.ports.byName[port.name] = run.ports.byNumber[key]!;
      }
    }
  }

  private async launch(run: PodRun, c: ContainerRun, spec: V1Container, image: PulledImage): Promise<void> {
    const env = await containerEnvironment(run.pod, spec, {
      imageEnv: image.config.Env ?? [],
      services: this.proxy.serviceEnv(run.namespace),
      ports: run.ports,
      sources: this.envSources(),
      hostPath: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    });
    const argv = commandLine(spec, image, env);
    if (argv.length === 0) throw new ContainerConfigError('no command specified: the container has no command and its image no entrypoint');
    const workingDir = spec.workingDir || image.config.WorkingDir || '/';
    const cwd = join(image.rootfs, workingDir);
    // As a container runtime does, a missing working directory is created.
    mkdirSync(cwd, { recursive: true });
    const executable = resolveExecutable(argv[0]!, image.rootfs, cwd, env.PATH ?? '');
    const args = argv.slice(1).map((arg) => (isAbsolute(arg) && existsSync(join(image.rootfs, arg)) ? join(image.rootfs, arg) : arg));

    const restartCount = c.everStarted ? c.restartCount + 1 : c.restartCount;
    const logDir = this.logDir(run, c.name);
    mkdirSync(logDir, { recursive: true });
    const fd = openSync(join(logDir, `${restartCount}.log`), 'a');
    let child: ChildProcess;
    try {
      // Own process group, output straight to the log file: the process outlives a crash of this kubelet and can be adopted.
      child = spawn(executable, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new RunContainerError(`failed to start ${executable}: ${err.message}`)));
      });
    } finally {
      closeSync(fd);
    }
    // A process that already exited has no /proc entry left; its exit event still reports the code.
    const proc = identify(child.pid) ?? { pid: child.pid ?? -1, startTicks: -1 };
    c.restartCount = restartCount;
    c.everStarted = true;
    c.incarnation += 1;
    c.killedBy = undefined;
    c.child = child;
    c.started = !spec.startupProbe;
    c.ready = c.started && !spec.readinessProbe;
    const startedAt = new Date().toISOString();
    c.state = { kind: 'running', startedAt, proc, incarnation: c.incarnation };
    const incarnation = c.incarnation;
    child.once('exit', (code, signal) => this.exited(run, c, incarnation, code, signal));
    child.unref();
    this.startProbes(run, c, spec, incarnation);
    this.log.info({ pod: `${run.namespace}/${run.name}`, container: c.name, pid: proc.pid, restartCount, image: image.pinned }, 'started container');
    this.event(run, c.name, 'Normal', 'Started', `Started container ${c.name}`);
    await Promise.all([this.saveState(), this.publishTargets()]);
  }

  private exited(run: PodRun, c: ContainerRun, incarnation: number, code: number | null, signal: NodeJS.Signals | null): void {
    // After stop() or detach(), state.json speaks for the processes; nothing here may rewrite it.
    if (this.stopped || c.state.kind !== 'running' || c.incarnation !== incarnation) return;
    const finishedAt = new Date().toISOString();
    const exitCode = code ?? 128 + signalNumber(signal);
    const ranMs = Date.parse(finishedAt) - Date.parse(c.state.startedAt);
    c.state = {
      kind: 'terminated',
      exitCode,
      ...(signal ? { signal } : {}),
      reason: exitCode === 0 ? 'Completed' : 'Error',
      ...(c.killedBy ? { message: c.killedBy } : {}),
      startedAt: c.state.startedAt,
      finishedAt,
      containerID: `slipway://${c.state.proc.pid}`,
    };
    c.ready = false;
    c.child = undefined;
    // A container that ran ten minutes without trouble starts its back-off afresh, as with a kubelet.
    if (ranMs > 600_000) c.backoffMs = 0;
    c.windowMs = c.backoffMs;
    c.notBefore = Date.now() + c.windowMs;
    c.backoffMs = c.backoffMs === 0 ? this.backoff.initialMs : Math.min(c.backoffMs * 2, this.backoff.maxMs);
    this.log.info({ pod: `${run.namespace}/${run.name}`, container: c.name, exitCode, signal }, 'container exited');
    void Promise.all([this.saveState(), this.publishTargets()]);
    this.kick(run.uid);
  }

  /** Follows a process adopted after a restart of the kubelet: not our child, so only its disappearance is seen. */
  private watchAdopted(run: PodRun, c: ContainerRun, proc: ProcessIdentity, incarnation: number): void {
    const check = () => {
      if (c.incarnation !== incarnation || c.state.kind !== 'running') return;
      if (isAlive(proc)) return this.later(500, check);
      const startedAt = c.state.startedAt;
      c.state = { kind: 'terminated', exitCode: 137, reason: 'ContainerStatusUnknown', message: 'the adopted process exited; its exit code is unknown', startedAt, finishedAt: new Date().toISOString() };
      c.ready = false;
      c.windowMs = c.backoffMs;
      c.notBefore = Date.now() + c.windowMs;
      c.backoffMs = c.backoffMs === 0 ? this.backoff.initialMs : Math.min(c.backoffMs * 2, this.backoff.maxMs);
      this.kick(run.uid);
    };
    this.later(500, check);
  }

  private startProbes(run: PodRun, c: ContainerRun, spec: V1Container, incarnation: number): void {
    const alive = () => !this.stopped && c.incarnation === incarnation && c.state.kind === 'running' && !run.terminating;
    const loop = (kind: 'startup' | 'readiness' | 'liveness', probe: V1Probe) => {
      let successes = 0;
      let failures = 0;
      const period = (probe.periodSeconds ?? 10) * 1000;
      const tick = async () => {
        if (!alive()) return;
        if (kind !== 'startup' && !c.started) return this.later(period, () => void tick());
        if (kind === 'startup' && c.started) return;
        const result = await runProbe(probe, (port) => resolvePort(run.ports, port));
        if (!alive()) return;
        if (result.ok) {
          successes += 1;
          failures = 0;
        } else {
          failures += 1;
          successes = 0;
        }
        const passed = successes >= (kind === 'readiness' ? (probe.successThreshold ?? 1) : 1);
        const failed = failures >= (probe.failureThreshold ?? 3);
        if (!result.ok) this.event(run, c.name, 'Warning', 'Unhealthy', `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed: ${result.message}`);
        if (kind === 'readiness') {
          const ready = passed ? true : failed ? false : c.ready;
          if (ready !== c.ready) {
            c.ready = ready;
            this.kick(run.uid);
          }
        } else if (kind === 'startup' && passed) {
          c.started = true;
          c.ready = !spec.readinessProbe;
          this.kick(run.uid);
          return;
        } else if (failed && c.state.kind === 'running') {
          c.killedBy = `Container ${c.name} failed ${kind} probe, will be restarted`;
          this.event(run, c.name, 'Normal', 'Killing', c.killedBy);
          const grace = probe.terminationGracePeriodSeconds ?? graceSeconds(run.pod);
          await stopGroup(c.state.proc, grace * 1000);
          return;
        }
        this.later(period, () => void tick());
      };
      this.later((probe.initialDelaySeconds ?? 0) * 1000, () => void tick());
    };
    if (spec.startupProbe) loop('startup', spec.startupProbe);
    if (spec.readinessProbe) loop('readiness', spec.readinessProbe);
    if (spec.livenessProbe) loop('liveness', spec.livenessProbe);
  }

  /** The image of a running container changed in the spec (allowed for a bare Pod): it is stopped and started anew, without back-off. */
  private async replaceContainer(run: PodRun, c: ContainerRun): Promise<void> {
    if (c.state.kind !== 'running') return;
    c.killedBy = `Container ${c.name} definition changed, will be restarted`;
    this.event(run, c.name, 'Normal', 'Killing', c.killedBy);
    await stopGroup(c.state.proc, graceSeconds(run.pod) * 1000, c.child ? new Promise((resolve) => c.child?.once('exit', resolve)) : undefined);
    c.image = undefined;
    c.imageRef = undefined;
    c.notBefore = 0;
    run.dirty = true;
  }

  /** A pod being deleted: stop its containers within its grace period, report them terminated, then confirm the deletion. */
  private async terminate(run: PodRun): Promise<void> {
    const grace = run.pod.metadata?.deletionGracePeriodSeconds ?? graceSeconds(run.pod);
    for (const c of run.containers.values()) if (c.state.kind === 'running') this.event(run, c.name, 'Normal', 'Killing', `Stopping container ${c.name}`);
    await this.stopContainers(run, grace * 1000, 'the pod is being deleted');
    await this.report(run).catch(() => undefined);
    try {
      await this.core.deleteNamespacedPod({ name: run.name, namespace: run.namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid: run.uid } } });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
    run.deleted = true;
    this.kick(run.uid);
  }

  private async stopContainers(run: PodRun, graceMs: number, why: string): Promise<void> {
    await Promise.all(
      [...run.containers.values()].map(async (c) => {
        if (c.state.kind !== 'running') return;
        c.killedBy = why;
        const exited = c.child ? new Promise((resolve) => c.child?.once('exit', resolve)) : undefined;
        const proc = c.state.proc;
        await stopGroup(proc, graceMs, exited);
        if (c.state.kind === 'running') {
          c.state = { kind: 'terminated', exitCode: 137, reason: 'Error', message: why, startedAt: c.state.startedAt, finishedAt: new Date().toISOString() };
          c.ready = false;
        }
        // No restart for a container its pod no longer wants.
        c.notBefore = Number.MAX_SAFE_INTEGER;
      }),
    );
    await Promise.all([this.saveState(), this.publishTargets()]);
  }

  /** Sends the pod's status through the status subresource when it changed. */
  private async report(run: PodRun): Promise<void> {
    const status = this.statusOf(run);
    const text = JSON.stringify(status);
    // Also resend when someone else changed what we own (the node controller marks pods NotReady while a node is away).
    if (text === run.reported && essentials(run.pod.status) === essentials(status)) return;
    try {
      await this.core.patchNamespacedPodStatus(
        { name: run.name, namespace: run.namespace, body: { metadata: { uid: run.uid }, status } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      run.reported = text;
    } catch (err) {
      if (statusOf(err) === 404 || statusOf(err) === 409) return;
      this.log.warn({ pod: `${run.namespace}/${run.name}`, err: (err as Error).message }, 'status update failed; will retry');
    }
  }

  private statusOf(run: PodRun): Record<string, unknown> {
    const specs = run.pod.spec?.containers ?? [];
    const containers = specs.map((s) => run.containers.get(s.name)).filter((c): c is ContainerRun => c !== undefined);
    const policy = run.pod.spec?.restartPolicy ?? 'Always';
    // Pending until every container has started once; terminal once every container ended and none will restart.
    const exits = containers.map((c) => (c.state.kind === 'terminated' ? c.state.exitCode : undefined));
    const allEnded = exits.every((code) => code !== undefined);
    let phase = containers.some((c) => !c.everStarted) ? 'Pending' : 'Running';
    if (phase === 'Running' && allEnded && !run.terminating) {
      if (exits.every((code) => code === 0) && policy !== 'Always') phase = 'Succeeded';
      else if (policy === 'Never') phase = 'Failed';
    }
    const unready = containers.filter((c) => !c.ready || c.state.kind !== 'running').map((c) => c.name);
    const gatesOk = (run.pod.spec?.readinessGates ?? []).every((g) => run.pod.status?.conditions?.some((c) => c.type === g.conditionType && c.status === 'True'));
    const condition = (type: string, ok: boolean, reason?: string, message?: string) => {
      const status = ok ? 'True' : 'False';
      const previous = run.transitions[type];
      if (previous?.status !== status) run.transitions[type] = { status, at: new Date().toISOString() };
      return { type, status, lastProbeTime: null, lastTransitionTime: run.transitions[type]!.at, ...(ok ? {} : { reason, message }) };
    };
    const containersReady = unready.length === 0;
    const unreadyMessage = `containers with unready status: [${unready.join(' ')}]`;
    return {
      phase,
      conditions: [
        condition('PodReadyToStartContainers', true),
        condition('Initialized', true),
        condition('ContainersReady', containersReady, 'ContainersNotReady', unreadyMessage),
        condition('Ready', containersReady && gatesOk, containersReady ? 'ReadinessGatesNotReady' : 'ContainersNotReady', containersReady ? 'corresponding condition of pod readiness gate is not true' : unreadyMessage),
      ],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      startTime: run.startTime,
      containerStatuses: containers.map((c) => {
        const spec = specs.find((s) => s.name === c.name);
        return {
          name: c.name,
          image: spec?.image ?? '',
          imageID: c.image?.pinned ?? '',
          ...(c.state.kind === 'running' ? { containerID: `slipway://${c.state.proc.pid}` } : {}),
          ready: c.ready && c.state.kind === 'running',
          started: c.state.kind === 'running' && c.started,
          restartCount: c.restartCount,
          state: stateOf(c.state),
          lastState: c.lastState ? { terminated: c.lastState } : {},
        };
      }),
    };
  }

  private endpoints(): Endpoint[] {
    return [...this.runs.values()]
      .filter((run) => !run.terminating && !run.pod.metadata?.deletionTimestamp)
      .map((run) => ({
        namespace: run.namespace,
        name: run.name,
        labels: run.pod.metadata?.labels ?? {},
        ready: [...run.containers.values()].every((c) => c.ready && c.state.kind === 'running'),
        resolve: (port: number | string) => resolvePort(run.ports, port) ?? (typeof port === 'number' ? port : undefined),
      }));
  }

  private publishTargets(): Promise<void> {
    const targets = [...this.runs.values()]
      .filter((run) => !run.pod.metadata?.deletionTimestamp && [...run.containers.values()].some((c) => c.state.kind === 'running'))
      .map((run) => scrapeTarget(run.pod, (port) => resolvePort(run.ports, port), (name) => run.containers.get(name)?.image?.pinned))
      .filter((t) => t !== undefined);
    return this.targets.write(targets).catch((err: Error) => this.log.error({ err: err.message }, 'writing Prometheus targets failed'));
  }

  private saveState(): Promise<void> {
    this.savingState = this.savingState.then(async () => {
      const pods: KubeletState['pods'] = { ...this.adoptable };
      for (const run of this.runs.values()) {
        const containers: KubeletState['pods'][string]['containers'] = {};
        for (const c of run.containers.values()) {
          if (c.state.kind === 'running') containers[c.name] = { proc: c.state.proc, startedAt: c.state.startedAt, restartCount: c.restartCount };
        }
        pods[run.uid] = { namespace: run.namespace, name: run.name, ports: run.ports, containers };
      }
      await writeFileAtomic(join(this.options.dir, 'state.json'), JSON.stringify({ pods } satisfies KubeletState, null, 2) + '\n');
    }).catch((err: Error) => this.log.error({ err: err.message }, 'saving kubelet state failed'));
    return this.savingState;
  }

  private envSources(): EnvSources {
    return {
      configMap: async (namespace, name) => {
        try {
          return (await this.core.readNamespacedConfigMap({ name, namespace })).data ?? {};
        } catch (err) {
          if (statusOf(err) === 404) return undefined;
          throw err;
        }
      },
      secret: async (namespace, name) => {
        try {
          const secret = await this.core.readNamespacedSecret({ name, namespace });
          return Object.fromEntries([
            ...Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
            ...Object.entries(secret.stringData ?? {}),
          ]);
        } catch (err) {
          if (statusOf(err) === 404) return undefined;
          throw err;
        }
      },
    };
  }

  /** Records an Event on the pod as a kubelet does; repeats of the same one raise its count. Best effort. */
  private event(run: PodRun, container: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const key = `${run.uid}/${container}/${reason}/${message}`;
    const seen = this.events.get(key);
    const now = new Date();
    if (seen && now.getTime() - seen.at < 5_000) return;
    const send = async () => {
      if (seen) {
        seen.count += 1;
        seen.at = now.getTime();
        await this.core.patchNamespacedEvent(
          { name: seen.name, namespace: run.namespace, body: { count: seen.count, lastTimestamp: now.toISOString() } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return;
      }
      const name = `${run.name}.${randomBytes(8).toString('hex')}`;
      this.events.set(key, { name, count: 1, at: now.getTime() });
      const body: CoreV1Event = {
        metadata: { name, namespace: run.namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: run.name, namespace: run.namespace, uid: run.uid, fieldPath: `spec.containers{${container}}` },
        reason,
        message,
        type,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'kubelet', host: this.options.nodeName },
        reportingComponent: 'kubelet',
        reportingInstance: this.options.nodeName,
      };
      await this.core.createNamespacedEvent({ namespace: run.namespace, body });
    };
    void send().catch(() => undefined);
  }
}

class RunContainerError extends Error {}

/** Kubernetes' rules: command replaces the image's entrypoint (and drops its cmd); args replace its cmd. $(VAR) expands in both. */
function commandLine(spec: V1Container, image: PulledImage, env: Record<string, string>): string[] {
  const entrypoint = spec.command && spec.command.length > 0 ? spec.command : (image.config.Entrypoint ?? []);
  const args = spec.args && spec.args.length > 0 ? spec.args : spec.command && spec.command.length > 0 ? [] : (image.config.Cmd ?? []);
  return [...entrypoint, ...args].map((part) => expand(part, env));
}

/**
 * The program to run: a path inside the image when it has one there, else a host path; a bare name
 * from the host PATH (the host provides language runtimes such as `node`).
 */
function resolveExecutable(name: string, rootfs: string, cwd: string, hostPath: string): string {
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (isAbsolute(name)) {
    if (executable(join(rootfs, name))) return join(rootfs, name);
    if (executable(name)) return name;
    throw new Error(`exec: "${name}": no such file in the image or on the host`);
  }
  if (name.includes('/')) {
    if (executable(join(cwd, name))) return join(cwd, name);
    throw new Error(`exec: "${name}": no such file in the image's working directory`);
  }
  for (const dir of hostPath.split(delimiter)) if (dir && executable(join(dir, name))) return join(dir, name);
  throw new Error(`exec: "${name}": executable file not found in the host's $PATH (the local kubelet runs images with the host's runtimes)`);
}

function resolvePort(ports: PodPorts, port: number | string): number | undefined {
  if (typeof port === 'number') return ports.byNumber[String(port)];
  if (/^\d+$/.test(port)) return ports.byNumber[port];
  return ports.byName[port];
}

function stateOf(state: ContainerState): V1ContainerState | Record<string, unknown> {
  if (state.kind === 'waiting') return { waiting: { reason: state.reason, ...(state.message ? { message: state.message } : {}) } };
  if (state.kind === 'running') return { running: { startedAt: state.startedAt } };
  return { terminated: stripKind(state) };
}

function stripKind(state: { kind: 'terminated' } & Terminated): Terminated {
  const { kind: _kind, ...rest } = state;
  return rest;
}

function terminatedFrom(t: { exitCode: number; signal?: number; reason?: string; message?: string; startedAt?: Date; finishedAt?: Date; containerID?: string }): Terminated {
  return {
    exitCode: t.exitCode,
    reason: t.reason ?? 'Error',
    ...(t.message ? { message: t.message } : {}),
    startedAt: t.startedAt ? new Date(t.startedAt).toISOString() : new Date(0).toISOString(),
    finishedAt: t.finishedAt ? new Date(t.finishedAt).toISOString() : new Date(0).toISOString(),
    ...(t.containerID ? { containerID: t.containerID } : {}),
  };
}

/** The parts of a pod status the kubelet owns, comparable whether they came from the API or from statusOf. */
function essentials(status: unknown): string {
  const s = (status ?? {}) as { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { name: string; ready: boolean; restartCount: number; state?: object }[] };
  const owned = new Set(['Initialized', 'ContainersReady', 'Ready']);
  return JSON.stringify([
    s.phase,
    (s.conditions ?? []).filter((c) => owned.has(c.type)).map((c) => `${c.type}=${c.status}`).sort(),
    (s.containerStatuses ?? []).map((c) => `${c.name}:${c.ready}:${c.restartCount}:${Object.entries(c.state ?? {}).filter(([, v]) => v != null).map(([k]) => k).join()}`).sort(),
  ]);
}

const graceSeconds = (pod: V1Pod) => pod.spec?.terminationGracePeriodSeconds ?? 30;

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };
  return signal ? (numbers[signal] ?? 0) : 0;
}

function statusOf(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}
