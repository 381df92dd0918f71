import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane, type KubeBinaries } from '../../scripts/kubernetes';
import { freePort } from '../../scripts/temporal';
import type { BuiltImage } from '../../world/images';
import { LocalKubelet, type KubeletOptions } from '../../world/kubelet';
import { startRegistry, type RunningRegistry } from '../../world/registry';
import type { PublishedService } from '../../world/serviceProxy';
import { eventually, httpText, processAlive, testTools, versionImage } from '../support/worldFixtures';

const NODE = 'slipway-world';
const NS = 'dev';
let plane: ControlPlane;
let registry: RunningRegistry;
let kubelet: LocalKubelet;
let apps: AppsV1Api;
let core: CoreV1Api;
let dir: string;
let images: Record<'v1' | 'v2' | 'crash', BuiltImage>;
let kubeletOptions: KubeletOptions;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-kubelet-'));
  const { crane, registry: registryBinary } = testTools();
  [plane, registry] = await Promise.all([
    startControlPlane(JSON.parse(process.env.SLIPWAY_TEST_KUBE_BINARIES as string) as KubeBinaries, { dir: join(dir, 'kube'), nodes: 0, localNodes: [NODE], context: 'slipway-world', namespaces: [NS] }),
    freePort().then((port) => startRegistry({ binary: registryBinary, dir: join(dir, 'registry'), port })),
  ]);
  const [v1, v2, crash] = await Promise.all(['v1', 'v2', 'crash'].map((v) => versionImage(crane, registry.address, v)));
  images = { v1: v1!, v2: v2!, crash: crash! };
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  apps = kc.makeApiClient(AppsV1Api);
  core = kc.makeApiClient(CoreV1Api);
  // Short back-off so a crash loop shows within the test; the default is a kubelet's 10 s doubling to 5 min.
  // The control plane's self-signed serving certificate serves the kubelet's log endpoint too.
  const [cert, key] = await Promise.all(['apiserver.crt', 'apiserver.key'].map((f) => readFile(join(dir, 'kube/certs', f), 'utf8')));
  kubeletOptions = {
    kubeconfig: plane.kubeconfig,
    nodeName: NODE,
    dir: join(dir, 'kubelet'),
    crane,
    targetsFile: join(dir, 'prometheus/targets/pods.json'),
    backoff: { initialMs: 1_000, maxMs: 4_000 },
    server: { cert: cert!, key: key! },
  };
  kubelet = new LocalKubelet(kubeletOptions);
  await kubelet.start();
}, 120_000);

afterAll(async () => {
  await kubelet?.stop();
  await Promise.all([plane?.stop(), registry?.stop()]);
});

const readyProbe = { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 2 };

function deployment(name: string, image: string, replicas = 1): V1Deployment {
  return {
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: name }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': 'http' } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [{ name: 'server', image, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: readyProbe, livenessProbe: { ...readyProbe, failureThreshold: 3 } }],
        },
      },
    },
  };
}

async function rolledOut(name: string, image: string): Promise<void> {
  await eventually(`deployment ${name} to roll out ${image}`, async () => {
    const d = await apps.readNamespacedDeployment({ name, namespace: NS });
    const s = d.status ?? {};
    const wanted = d.spec?.replicas ?? 1;
    const pods = await podsOf(name);
    return (
      d.spec?.template.spec?.containers[0]?.image === image &&
      (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
      s.updatedReplicas === wanted &&
      s.availableReplicas === wanted &&
      (s.replicas ?? 0) === wanted &&
      pods.length === wanted
    );
  });
}

const podsOf = async (app: string) => (await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` })).items;

async function servicesFile(): Promise<PublishedService[]> {
  return JSON.parse(await readFile(kubelet.servicesFile, 'utf8')) as PublishedService[];
}

async function serviceAddress(name: string): Promise<string> {
  return eventually(`service ${name} in services.json`, async () => (await servicesFile()).find((s) => s.namespace === NS && s.service === name)?.ports.http);
}

async function setImage(name: string, image: string): Promise<void> {
  await apps.patchNamespacedDeployment(
    { name, namespace: NS, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }] },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
}

test('a Deployment by digest really serves, rolls to v2, rolls back to v1, and stops with its Deployment', async () => {
  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment('web', images.v1.pinned) });
  await rolledOut('web', images.v1.pinned);

  // The pod's own port, as the kubelet mapped it, and the Service's port through the proxy.
  const [pod] = await podsOf('web');
  const direct = kubelet.hostPort(NS, pod!.metadata!.name!, 'http');
  expect(direct).toBeGreaterThan(0);
  expect(await httpText(`http://127.0.0.1:${direct}/version`)).toBe('v1');
  const address = await serviceAddress('web');
  expect(await httpText(`http://${address}/version`)).toBe('v1');
  const v1Pid = Number(await httpText(`http://${address}/pid`));

  // The status a kubectl user reads.
  const status = pod!.status!;
  expect(status.podIP).toBe('127.0.0.1');
  expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  expect(status.containerStatuses?.[0]).toMatchObject({ ready: true, started: true, restartCount: 0, imageID: images.v1.pinned, image: images.v1.pinned });
  expect(status.containerStatuses?.[0]?.state?.running?.startedAt).toBeDefined();
  // `kubectl logs` reaches the process's output through the API server.
  expect(await core.readNamespacedPodLog({ name: pod!.metadata!.name!, namespace: NS, tailLines: 5 })).toBe(`version v1 listening on ${direct}\n`);

  // The Prometheus targets list the pod with its labels.
  const targets = JSON.parse(await readFile(join(dir, 'prometheus/targets/pods.json'), 'utf8')) as { targets: string[]; labels: Record<string, string> }[];
  expect(targets).toEqual([{ targets: [`127.0.0.1:${direct}`], labels: { __metrics_path__: '/metrics', namespace: NS, service: 'web', pod: pod!.metadata!.name, image: images.v1.pinned } }]);
  expect(await httpText(`http://${targets[0]!.targets[0]}/metrics`)).toMatch(/fixture_requests_total \d+/);

  await setImage('web', images.v2.pinned);
  await rolledOut('web', images.v2.pinned);
  await eventually('the v1 process to be gone', async () => !processAlive(v1Pid));
  expect(await httpText(`http://${address}/version`)).toBe('v2');
  const v2Pid = Number(await httpText(`http://${address}/pid`));

  // What `kubectl rollout undo` does: the template goes back to the previous one.
  await setImage('web', images.v1.pinned);
  await rolledOut('web', images.v1.pinned);
  await eventually('the v2 process to be gone', async () => !processAlive(v2Pid));
  expect(await httpText(`http://${address}/version`)).toBe('v1');
  const rolledBackPid = Number(await httpText(`http://${address}/pid`));

  await apps.deleteNamespacedDeployment({ name: 'web', namespace: NS, propagationPolicy: 'Foreground' });
  await eventually('the pods to be deleted', async () => (await podsOf('web')).length === 0);
  expect(processAlive(rolledBackPid)).toBe(false);
  await eventually('the targets file to be empty', async () => (await readFile(join(dir, 'prometheus/targets/pods.json'), 'utf8')).trim() === '[]');
  // The Service still exists, but nothing behind it answers: connections are refused.
  await expect(httpText(`http://${address}/version`)).rejects.toThrow();
});

test('a container that exits non-zero is restarted with back-off, and its status tells why', async () => {
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment('crasher', images.crash.pinned) });
  const pod = await eventually('a restart with the last exit code', async () => {
    const [p] = await podsOf('crasher');
    const s = p?.status?.containerStatuses?.[0];
    return s && s.restartCount >= 1 && s.lastState?.terminated?.exitCode === 3 ? p : undefined;
  });
  expect(pod.status?.containerStatuses?.[0]?.ready).toBe(false);
  expect(await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS, previous: true })).toBe('version crash: crashing on purpose\n');
  await eventually('CrashLoopBackOff', async () => {
    const [p] = await podsOf('crasher');
    return p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff';
  });
  const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${pod.metadata!.name}` });
  expect(events.items.map((e) => e.reason)).toContain('BackOff');
  await apps.deleteNamespacedDeployment({ name: 'crasher', namespace: NS, propagationPolicy: 'Foreground' });
  await eventually('the crashing pod to be deleted', async () => (await podsOf('crasher')).length === 0);
});

test('the Service proxy forwards only to ready pods', async () => {
  const pod = (name: string, image: string, readyPath: string): V1Pod => ({
    metadata: { name, namespace: NS, labels: { app: 'mixed' } },
    spec: { nodeName: NODE, terminationGracePeriodSeconds: 5, containers: [{ name: 'server', image, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { ...readyProbe, httpGet: { path: readyPath, port: 'http' } } }] },
  });
  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'mixed' }, spec: { selector: { app: 'mixed' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } } });
  await core.createNamespacedPod({ namespace: NS, body: pod('mixed-ready', images.v1.pinned, '/healthz') });
  await core.createNamespacedPod({ namespace: NS, body: pod('mixed-unready', images.v2.pinned, '/not-there') });
  await eventually('both pods running, one ready', async () => {
    const pods = await podsOf('mixed');
    const ready = (p: V1Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    return pods.length === 2 && pods.every((p) => p.status?.containerStatuses?.[0]?.state?.running) && ready(pods.find((p) => p.metadata?.name === 'mixed-ready')!) === 'True';
  });
  const address = await serviceAddress('mixed');
  const answers = await Promise.all(Array.from({ length: 8 }, () => httpText(`http://${address}/version`)));
  expect(new Set(answers)).toEqual(new Set(['v1']));
  // The unready pod really runs: it answers on its own port.
  expect(await httpText(`http://127.0.0.1:${kubelet.hostPort(NS, 'mixed-unready', 8080)}/version`)).toBe('v2');
  // Service variables point at the proxy, as a kubelet's do at the ClusterIP.
  const env = JSON.parse(await httpText(`http://${address}/env`)) as Record<string, string>;
  expect(env).toMatchObject({ MIXED_SERVICE_HOST: '127.0.0.1', MIXED_SERVICE_PORT: address.split(':')[1], MIXED_SERVICE_PORT_HTTP: address.split(':')[1], SLIPWAY_PORT_HTTP: env.PORT, HOSTNAME: 'mixed-ready' });
  await core.deleteCollectionNamespacedPod({ namespace: NS, labelSelector: 'app=mixed' });
  await eventually('the mixed pods to be deleted', async () => (await podsOf('mixed')).length === 0);
});

test('a failed pull and a missing ConfigMap show in the pod status instead of crashing the kubelet', async () => {
  const missing = `${registry.address}/nothing-here@sha256:${'0'.repeat(64)}`;
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'no-image', labels: { app: 'broken' } }, spec: { nodeName: NODE, containers: [{ name: 'c', image: missing }] } } });
  await core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name: 'no-config', labels: { app: 'broken' } }, spec: { nodeName: NODE, containers: [{ name: 'c', image: images.v1.pinned, envFrom: [{ configMapRef: { name: 'absent' } }] }] } },
  });
  const waiting = async (name: string) => (await core.readNamespacedPod({ name, namespace: NS })).status?.containerStatuses?.[0]?.state?.waiting;
  const pull = await eventually('ErrImagePull', async () => {
    const w = await waiting('no-image');
    return w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' ? w : undefined;
  });
  expect(pull.message).toMatch(/nothing-here/);
  const config = await eventually('CreateContainerConfigError', async () => {
    const w = await waiting('no-config');
    return w?.reason === 'CreateContainerConfigError' ? w : undefined;
  });
  expect(config.message).toBe('configmap "absent" not found');
  expect((await core.readNamespacedPod({ name: 'no-config', namespace: NS })).status?.phase).toBe('Pending');
  await core.deleteCollectionNamespacedPod({ namespace: NS, labelSelector: 'app=broken' });
  await eventually('the broken pods to be deleted', async () => (await podsOf('broken')).length === 0);
});

test('a kubelet started after a crash adopts the processes it ran and kills those no pod wants', async () => {
  const pod = (name: string): V1Pod => ({
    metadata: { name, namespace: NS, labels: { app: 'adopt' } },
    spec: { nodeName: NODE, terminationGracePeriodSeconds: 5, containers: [{ name: 'server', image: images.v1.pinned, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: readyProbe }] },
  });
  await core.createNamespacedPod({ namespace: NS, body: pod('keeper') });
  await core.createNamespacedPod({ namespace: NS, body: pod('doomed') });
  const pidOf = (name: string) => eventually(`${name} to answer`, async () => Number(await httpText(`http://127.0.0.1:${kubelet.hostPort(NS, name, 'http')}/pid`)));
  const [keeperPid, doomedPid] = [await pidOf('keeper'), await pidOf('doomed')];

  // A crash: the kubelet goes away, its processes stay; meanwhile one pod is force-deleted.
  await kubelet.detach();
  await core.deleteNamespacedPod({ name: 'doomed', namespace: NS, gracePeriodSeconds: 0 });
  expect([processAlive(keeperPid), processAlive(doomedPid)]).toEqual([true, true]);

  kubelet = new LocalKubelet(kubeletOptions);
  await kubelet.start();
  expect(processAlive(doomedPid)).toBe(false);
  expect(await pidOf('keeper')).toBe(keeperPid);
  const status = await eventually('keeper to be Ready under the new kubelet', async () => {
    const s = (await core.readNamespacedPod({ name: 'keeper', namespace: NS })).status;
    return s?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? s : undefined;
  });
  expect(status.containerStatuses?.[0]).toMatchObject({ restartCount: 0, ready: true });
  await core.deleteNamespacedPod({ name: 'keeper', namespace: NS });
  await eventually('keeper to be deleted', async () => (await podsOf('adopt')).length === 0);
  expect(processAlive(keeperPid)).toBe(false);
});

test("changing a bare Pod's image replaces its container with the new image", async () => {
  await core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name: 'bare', labels: { app: 'bare' } }, spec: { nodeName: NODE, terminationGracePeriodSeconds: 5, containers: [{ name: 'server', image: images.v1.pinned, ports: [{ name: 'http', containerPort: 8080 }] }] } },
  });
  const version = () => httpText(`http://127.0.0.1:${kubelet.hostPort(NS, 'bare', 'http')}/version`);
  expect(await eventually('bare to serve v1', version)).toBe('v1');
  await core.patchNamespacedPod(
    { name: 'bare', namespace: NS, body: [{ op: 'replace', path: '/spec/containers/0/image', value: images.v2.pinned }] },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
  await eventually('bare to serve v2', async () => (await version()) === 'v2');
  const status = await eventually('the new container in the status', async () => {
    const s = (await core.readNamespacedPod({ name: 'bare', namespace: NS })).status?.containerStatuses?.[0];
    return s?.imageID === images.v2.pinned && s.state?.running ? s : undefined;
  });
  expect(status.restartCount).toBe(1);
  await core.deleteNamespacedPod({ name: 'bare', namespace: NS });
  await eventually('bare to be deleted', async () => (await podsOf('bare')).length === 0);
});
