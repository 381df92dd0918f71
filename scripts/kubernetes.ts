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
  stop(): Promise<void>;
}

/** Starts a control plane and registers `nodes` fake nodes managed by kwok. */
export async function startControlPlane(bin: KubeBinaries, options: { nodes?: number; dir?: string } = {}): Promise<ControlPlane> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'slipway-kube-')));
  const children: ChildProcess[] = [];
  const logs = join(dir, 'logs');
  await mkdir(logs, { recursive: true });
  const start = (name: string, binary: string, args: string[]) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = createWriteStream(join(logs, `${name}.log`));
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    children.push(child);
    return child;
  };
  const stop = async () => {
    for (const child of [...children].reverse()) await stopProcess(child, 'SIGTERM', 5_000);
  };

  try {
    const [etcdClient, etcdPeer, apiPort, cmPort, schedPort, kwokPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    await writeFile(join(dir, 'sa.key'), privateKey, { mode: 0o600 });
    await writeFile(join(dir, 'sa.pub'), publicKey);
    const token = randomBytes(24).toString('hex');
    await writeFile(join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: slipway-test\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: ${token}\ncontexts:\n- name: slipway-test\n  context:\n    cluster: slipway-test\n    user: admin\ncurrent-context: slipway-test\n`,
      { mode: 0o600 },
    );

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    start('etcd', bin.etcd, [
      '--name=slipway', `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=slipway=http://127.0.0.1:${etcdPeer}`, '--log-level=warn', '--quota-backend-bytes=1073741824',
    ]);
    start('kube-apiserver', bin['kube-apiserver'], [
      `--etcd-servers=${etcdUrl}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`, `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`, '--service-cluster-ip-range=10.96.0.0/16',
      '--endpoint-reconciler-type=none', '--allow-privileged=true', '--v=0',
    ]);
    const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor(async () => (await core.readNamespace({ name: 'default' })).metadata?.name === 'default', 'kube-apiserver to be ready', 90_000, logs);
    start('kube-controller-manager', bin['kube-controller-manager'], [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${cmPort}`, `--service-account-private-key-file=${join(dir, 'sa.key')}`,
      '--use-service-account-credentials=false', '--leader-elect=false',
    ]);
    start('kube-scheduler', bin['kube-scheduler'], [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${schedPort}`, '--leader-elect=false',
    ]);
    start('kwok', bin.kwok, [
      `--kubeconfig=${kubeconfig}`, `--config=${bin.kwokStages}`, '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-ip=10.0.0.1', '--cidr=10.0.0.1/24', `--server-address=127.0.0.1:${kwokPort}`, '--node-lease-duration-seconds=40',
    ]);

    // Fake nodes kwok keeps Ready; pods scheduled on them become Ready without a kubelet.
    for (let i = 0; i < (options.nodes ?? 2); i++) {
      await core.createNode({
        body: {
          metadata: { name: `kwok-node-${i}`, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { type: 'kwok', 'kubernetes.io/hostname': `kwok-node-${i}` } },
          status: { allocatable: { cpu: '8', memory: '32Gi', pods: '110' }, capacity: { cpu: '8', memory: '32Gi', pods: '110' } },
        },
      });
    }
    await waitFor(async () => {
      const nodes = await core.listNode();
      return nodes.items.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }, 'fake nodes to be Ready', 60_000, logs);
    // The default service account must exist before pods can be created in a namespace.
    await waitFor(async () => core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(() => true, () => false), 'the service account controller', 60_000, logs);
    return { server, kubeconfig, context: 'slipway-test', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number, logs: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
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
