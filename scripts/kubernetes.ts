/**
 * A real local Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kwok (pods become Ready on fake nodes, no kubelets), built from the Go module
 * proxy into the per-user cache (keyed by version) and started on loopback with free ports.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stopProcess } from './process';
import { cacheDir, freePort } from './temporal';

const run = promisify(execFile);

export const KUBERNETES_VERSION = '1.37.2';
const STAGING_VERSION = '0.37.2';
const ETCD_VERSION = '3.6.16';
const KWOK_VERSION = '0.8.0';
const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd', 'kwok'] as const;
export type KubeBinaries = Record<(typeof BINARIES)[number], string> & { kwokStages: string };

/** kwok's own stage definitions (what makes nodes and pods Ready), taken from its module. */
async function ensureKwokStages(file: string, cwd: string): Promise<void> {
  if (existsSync(file)) return;
  const info = JSON.parse(await go(['mod', 'download', '-json', `sigs.k8s.io/kwok@v${KWOK_VERSION}`], cwd)) as { Dir: string };
  const stages = ['node/fast/node-initialize.yaml', 'node/heartbeat/node-heartbeat.yaml', 'pod/fast/pod-ready.yaml', 'pod/fast/pod-complete.yaml', 'pod/fast/pod-delete.yaml'];
  const texts = await Promise.all(stages.map((stage) => readFile(join(info.Dir, 'kustomize/stage', stage), 'utf8')));
  await writeFile(file, texts.map((t) => t.trim()).join('\n---\n') + '\n');
}

async function go(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run('go', args, { cwd, env: { ...process.env, GOFLAGS: '-mod=mod', ...env }, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/**
 * Builds the binaries once (a cold build takes roughly ten minutes on two cores) and reuses them.
 * k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging modules), so a small
 * wrapper module requires it and replaces each k8s.io staging module with its published version.
 */
export async function ensureKubernetes(log: (line: string) => void = console.log): Promise<KubeBinaries> {
  const folder = join(cacheDir(), 'tools', `kubernetes-v${KUBERNETES_VERSION}`);
  const paths = { ...Object.fromEntries(BINARIES.map((b) => [b, join(folder, b)])), kwokStages: join(folder, 'kwok-stages.yaml') } as KubeBinaries;
  if (BINARIES.every((b) => existsSync(paths[b]))) {
    await ensureKwokStages(paths.kwokStages, folder);
    return paths;
  }

  log(`slipway: building the Kubernetes ${KUBERNETES_VERSION} control plane, etcd ${ETCD_VERSION} and kwok ${KWOK_VERSION} from Go modules (once; cached in ${folder}; about ten minutes) ...`);
  await mkdir(join(cacheDir(), 'tools'), { recursive: true });
  const scratch = await mkdtemp(`${folder}.partial-`);
  try {
    const kube = join(scratch, 'kube');
    await mkdir(kube);
    const modInfo = JSON.parse(await go(['mod', 'download', '-json', `k8s.io/kubernetes@v${KUBERNETES_VERSION}`], scratch)) as { GoMod: string };
    const upstream = await readFile(modInfo.GoMod, 'utf8');
    const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[a-z0-9-]+) => \.\/staging/gm)].map((m) => m[1]);
    await writeFile(
      join(kube, 'go.mod'),
      [`module slipway.local/kubebuild`, `go 1.25`, `require k8s.io/kubernetes v${KUBERNETES_VERSION}`, ...staging.map((m) => `replace ${m} => ${m} v${STAGING_VERSION}`)].join('\n'),
    );
    await writeFile(
      join(kube, 'tools.go'),
      '//go:build tools\npackage tools\nimport (\n_ "k8s.io/kubernetes/cmd/kube-apiserver"\n_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n_ "k8s.io/kubernetes/cmd/kube-scheduler"\n)\n',
    );
    await go(['mod', 'tidy'], kube).catch(() => '');
    const [major, minor] = KUBERNETES_VERSION.split('.');
    const ldflags = `-s -w -X k8s.io/component-base/version.gitVersion=v${KUBERNETES_VERSION} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}`;
    for (const cmd of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      log(`slipway: building ${cmd} ...`);
      await go(['build', '-ldflags', ldflags, '-o', join(scratch, cmd), `k8s.io/kubernetes/cmd/${cmd}`], kube);
    }
    const etcd = join(scratch, 'etcdsrc');
    await mkdir(etcd);
    await writeFile(join(etcd, 'go.mod'), `module slipway.local/etcdbuild\ngo 1.25\nrequire go.etcd.io/etcd/server/v3 v${ETCD_VERSION}\n`);
    await writeFile(join(etcd, 'main.go'), 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n');
    await go(['mod', 'tidy'], etcd);
    log('slipway: building etcd ...');
    await go(['build', '-o', join(scratch, 'etcd'), '.'], etcd);
    log('slipway: building kwok ...');
    await go(['install', `sigs.k8s.io/kwok/cmd/kwok@v${KWOK_VERSION}`], scratch, { GOBIN: scratch });
    await ensureKwokStages(join(scratch, 'kwok-stages.yaml'), scratch);
    await rm(kube, { recursive: true, force: true });
    await rm(etcd, { recursive: true, force: true });
    await rm(folder, { recursive: true, force: true });
    await rename(scratch, folder);
    return paths;
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw new Error(`building the Kubernetes control plane failed: ${(err as { stderr?: string }).stderr?.slice(-2000) ?? (err as Error).message}`);
  }
}

export interface ControlPlane {
  server: string;
  kubeconfig: string;
  /** The context name in the kubeconfig. */
  context: string;
  /** etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, in start order. */
  processes: ChildProcess[];
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Fake nodes on which kwok makes pods Ready without a kubelet (default 2). */
  nodes?: number;
  /** Where keys, kubeconfig, etcd data and logs live (default: a fresh temp dir). */
  dir?: string;
  /** Remember ports, keys and token in `dir` and reuse them, with the etcd data, on the next start. */
  persistent?: boolean;
  /** Cluster and context name in the kubeconfig (default slipway-test). */
  context?: string;
  /** Nodes kwok keeps Ready but whose pods it leaves alone: a local kubelet runs them. */
  localNodes?: string[];
  /** Namespaces to create if missing, each with its default service account ready. */
  namespaces?: string[];
  /** Start each process in its own process group, so a terminal's Ctrl-C reaches only whoever started it. */
  detached?: boolean;
}

/** What a persistent control plane keeps in `<dir>/control-plane.json` to come back the same. */
interface PlaneState {
  ports: Record<'etcdClient' | 'etcdPeer' | 'api' | 'controllerManager' | 'scheduler' | 'kwok' | 'kwokLocal', number>;
}

async function planeState(dir: string, persistent: boolean): Promise<PlaneState> {
  const file = join(dir, 'control-plane.json');
  if (persistent && existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as PlaneState;
  const [etcdClient, etcdPeer, api, controllerManager, scheduler, kwok, kwokLocal] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const state: PlaneState = { ports: { etcdClient: etcdClient!, etcdPeer: etcdPeer!, api: api!, controllerManager: controllerManager!, scheduler: scheduler!, kwok: kwok!, kwokLocal: kwokLocal! } };
  if (persistent) await writeFile(file, JSON.stringify(state, null, 2) + '\n');
  return state;
}

/** Writes a secret file unless a persistent plane already has it, and returns its text. */
async function keep(file: string, persistent: boolean, make: () => string): Promise<string> {
  if (persistent && existsSync(file)) return readFile(file, 'utf8');
  const text = make();
  await writeFile(file, text, { mode: 0o600 });
  return text;
}

/** kwok's node stages only, plus a pod stage that matches nothing: without one, kwok would use its default pod stages. */
async function localNodeStages(bin: KubeBinaries, file: string): Promise<void> {
  const documents = (await readFile(bin.kwokStages, 'utf8')).split(/^---$/m).filter((doc) => /^\s*kind: Node$/m.test(doc));
  const inert = [
    'apiVersion: kwok.x-k8s.io/v1alpha1',
    'kind: Stage',
    'metadata:',
    '  name: slipway-local-kubelet-owns-pods',
    'spec:',
    '  resourceRef:',
    '    apiGroup: v1',
    '    kind: Pod',
    '  selector:',
    '    matchExpressions:',
    "    - key: '.metadata.annotations.\"slipway.dev/never\"'",
    "      operator: 'In'",
    "      values: ['never']",
    '  next:',
    '    statusTemplate: ""',
  ].join('\n');
  await writeFile(file, [...documents.map((d) => d.trim()), inert].join('\n---\n') + '\n');
}

/** Starts a control plane and registers `nodes` fake nodes managed by kwok (and `localNodes` for a local kubelet). */
export async function startControlPlane(bin: KubeBinaries, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const persistent = options.persistent ?? false;
  if (persistent && options.dir === undefined) throw new Error('a persistent control plane needs a dir to keep its state in');
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'slipway-kube-')));
  const contextName = options.context ?? 'slipway-test';
  const fakeNodes = options.nodes ?? 2;
  const localNodes = options.localNodes ?? [];
  const children: ChildProcess[] = [];
  const logs = join(dir, 'logs');
  await mkdir(logs, { recursive: true });
  const start = (name: string, binary: string, args: string[]) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
    const out = createWriteStream(join(logs, `${name}.log`), { flags: persistent ? 'a' : 'w' });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    children.push(child);
    return child;
  };
  const stop = async () => {
    for (const child of [...children].reverse()) await stopProcess(child, 'SIGTERM', 5_000);
  };

  try {
    const { ports } = await planeState(dir, persistent);
    if (!(persistent && existsSync(join(dir, 'sa.key')) && existsSync(join(dir, 'sa.pub')))) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
      await writeFile(join(dir, 'sa.key'), privateKey, { mode: 0o600 });
      await writeFile(join(dir, 'sa.pub'), publicKey);
    }
    const tokens = await keep(join(dir, 'tokens.csv'), persistent, () => `${randomBytes(24).toString('hex')},admin,admin,"system:masters"\n`);
    const token = tokens.split(',')[0];
    const server = `https://127.0.0.1:${ports.api}`;
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: ${contextName}\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: ${token}\ncontexts:\n- name: ${contextName}\n  context:\n    cluster: ${contextName}\n    user: admin\ncurrent-context: ${contextName}\n`,
      { mode: 0o600 },
    );

    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    start('etcd', bin.etcd, [
      '--name=slipway', `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=slipway=http://127.0.0.1:${ports.etcdPeer}`, '--log-level=warn', '--quota-backend-bytes=1073741824',
    ]);
    start('kube-apiserver', bin['kube-apiserver'], [
      `--etcd-servers=${etcdUrl}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${ports.api}`,
      `--cert-dir=${join(dir, 'certs')}`, `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`, '--service-cluster-ip-range=10.96.0.0/16',
      '--endpoint-reconciler-type=none', '--allow-privileged=true', '--v=0',
    ]);
    const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor(async () => (await core.readNamespace({ name: 'default' })).metadata?.name === 'default', 'kube-apiserver to be ready', 90_000, logs, children);
    start('kube-controller-manager', bin['kube-controller-manager'], [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${ports.controllerManager}`, `--service-account-private-key-file=${join(dir, 'sa.key')}`,
      '--use-service-account-credentials=false', '--leader-elect=false',
    ]);
    start('kube-scheduler', bin['kube-scheduler'], [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${ports.scheduler}`, '--leader-elect=false',
    ]);
    if (fakeNodes > 0 || localNodes.length === 0) {
      start('kwok', bin.kwok, [
        `--kubeconfig=${kubeconfig}`, `--config=${bin.kwokStages}`, '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-ip=10.0.0.1', '--cidr=10.0.0.1/24', `--server-address=127.0.0.1:${ports.kwok}`, '--node-lease-duration-seconds=40',
      ]);
    }
    if (localNodes.length > 0) {
      // A second kwok keeps the local nodes Ready (status and lease) and never touches their pods.
      const stages = join(dir, 'kwok-local-stages.yaml');
      await localNodeStages(bin, stages);
      start('kwok-local', bin.kwok, [
        `--kubeconfig=${kubeconfig}`, `--config=${stages}`, '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=local',
        '--node-ip=127.0.0.1', `--server-address=127.0.0.1:${ports.kwokLocal}`, '--node-lease-duration-seconds=40',
      ]);
    }

    const createNode = async (name: string, kind: 'fake' | 'local') => {
      const body = {
        metadata: { name, annotations: { 'kwok.x-k8s.io/node': kind }, labels: { type: kind === 'fake' ? 'kwok' : 'local', 'kubernetes.io/hostname': name } },
        status: { allocatable: { cpu: '8', memory: '32Gi', pods: '110' }, capacity: { cpu: '8', memory: '32Gi', pods: '110' } },
      };
      await core.createNode({ body }).catch((err: unknown) => {
        if (!(persistent && isConflict(err))) throw err;
      });
    };
    // Fake nodes kwok keeps Ready; pods scheduled on them become Ready without a kubelet.
    for (let i = 0; i < fakeNodes; i++) await createNode(`kwok-node-${i}`, 'fake');
    for (const name of localNodes) await createNode(name, 'local');
    await waitFor(async () => {
      const nodes = await core.listNode();
      return nodes.items.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }, 'nodes to be Ready', 60_000, logs, children);
    for (const name of options.namespaces ?? []) {
      await core.createNamespace({ body: { metadata: { name } } }).catch((err: unknown) => {
        if (!isConflict(err)) throw err;
      });
    }
    // The default service account must exist before pods can be created in a namespace.
    for (const namespace of ['default', ...(options.namespaces ?? [])]) {
      await waitFor(async () => core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, () => false), `the service account controller (namespace ${namespace})`, 60_000, logs, children);
    }
    return { server, kubeconfig, context: contextName, processes: children, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const isConflict = (err: unknown) => (err as { code?: number }).code === 409;

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number, logs: string, children: ChildProcess[] = []): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    const exited = children.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (exited) throw new Error(`${exited.spawnfile} exited (${exited.signalCode ?? `code ${exited.exitCode}`}) while waiting for ${what}; logs in ${logs}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs in ${logs}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

if (require.main === module) {
  ensureKubernetes()
    .then((bin) => console.log(Object.values(bin).join('\n')))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
