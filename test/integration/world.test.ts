import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { KubeBinaries } from '../../scripts/kubernetes';
import { freePort } from '../../scripts/temporal';
import { startWorld, worldStatus, type World, type WorldOptions } from '../../world';
import type { PublishedService } from '../../world/serviceProxy';
import { eventually, httpText, processAlive, testTools, versionImage } from '../support/worldFixtures';

let dir: string;
/** Whatever world is up, so a failed assertion never leaves one running. */
let current: World | undefined;
const tools = () => ({
  ...testTools(),
  kubernetes: JSON.parse(process.env.SLIPWAY_TEST_KUBE_BINARIES as string) as KubeBinaries,
  prometheus: process.env.SLIPWAY_TEST_PROMETHEUS as string,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-world-'));
});
afterAll(() => current?.stop());

const clients = (world: World) => {
  const kc = new KubeConfig();
  kc.loadFromFile(world.kubeconfig);
  kc.setCurrentContext(world.kubeContext);
  return { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api) };
};

async function webAddress(world: World): Promise<string> {
  return eventually('the web Service in services.json', async () => {
    const services = JSON.parse(await readFile(world.servicesFile, 'utf8')) as PublishedService[];
    return services.find((s) => s.namespace === 'dev' && s.service === 'web')?.ports.http;
  });
}

test('the world stops without leaving a process behind and comes back with its state', async () => {
  const lines: string[] = [];
  const extraCalls: string[] = [];
  const options: WorldOptions = {
    dir,
    ports: { registry: await freePort(), prometheus: await freePort() },
    progress: (line) => lines.push(line),
    scrapeInterval: '1s',
    tools: tools(),
    // An extra plugs in after the core world and stops before it.
    extras: [{ name: 'probe-extra', start: async (w) => (extraCalls.push(`start ${w.kubeContext}`), { summary: 'ok', stop: async () => void extraCalls.push('stop') }) }],
  };
  const first = (current = await startWorld(options));
  expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['registry', 'kubernetes', 'kubelet', 'prometheus', 'probe-extra']);
  expect(lines[0]).toBe(`registry      ${first.registry.padEnd(17)}ready`);
  expect(extraCalls).toEqual(['start slipway-world']);
  await expect(startWorld({ ...options, extras: [] })).rejects.toThrow(/already running/);

  const image = await versionImage(first.crane, first.registry, 'v1', 'web');
  const { apps, core } = clients(first);
  const namespaces = (await core.listNamespace()).items.map((n) => n.metadata?.name);
  expect(namespaces).toEqual(expect.arrayContaining(['dev', 'staging', 'production']));
  await core.createNamespacedService({ namespace: 'dev', body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
  await apps.createNamespacedDeployment({
    namespace: 'dev',
    body: {
      metadata: { name: 'web' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' }, annotations: { 'prometheus.io/scrape': 'true' } },
          spec: { containers: [{ name: 'web', image: image.pinned, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 } }] },
        },
      },
    },
  });
  const address = await webAddress(first);
  const firstPid = Number(await eventually('web to answer', () => httpText(`http://${address}/pid`)));
  // Prometheus scrapes the pod through the kubelet's targets, labelled with its image digest.
  const scraped = await eventually('Prometheus to scrape the pod', async () => {
    const body = (await (await fetch(`${first.prometheusUrl}/api/v1/query?query=fixture_requests_total`)).json()) as { data: { result: { metric: Record<string, string> }[] } };
    return body.data.result[0]?.metric;
  });
  expect(scraped).toMatchObject({ job: 'pods', namespace: 'dev', service: 'web', image: image.pinned });

  const running = await worldStatus(dir);
  expect(running.running).toBe(true);
  expect(running.processes.map((p) => p.name)).toEqual(expect.arrayContaining(['registry', 'kubernetes/etcd', 'kubernetes/kube-apiserver', 'prometheus']));
  const pids = [...running.processes.map((p) => p.pid), firstPid];
  const apiServer = (await readFile(first.kubeconfig, 'utf8')).match(/server: (\S+)/)?.[1];

  await first.stop();
  expect(extraCalls).toEqual(['start slipway-world', 'stop']);
  expect(pids.filter(processAlive)).toEqual([]);
  expect((await worldStatus(dir)).running).toBe(false);

  // The second start reuses every choice and all state.
  const second = (current = await startWorld({ dir, progress: () => undefined, scrapeInterval: '1s', tools: tools() }));
  try {
    expect([second.registry, second.prometheusUrl]).toEqual([first.registry, first.prometheusUrl]);
    expect((await readFile(second.kubeconfig, 'utf8')).match(/server: (\S+)/)?.[1]).toBe(apiServer);
    expect(await webAddress(second)).toBe(address);
    expect(await eventually('web to answer again', () => httpText(`http://${address}/version`))).toBe('v1');
    const secondPid = Number(await httpText(`http://${address}/pid`));
    const [again] = (await clients(second).core.listNamespacedPod({ namespace: 'dev', labelSelector: 'app=web' })).items;
    expect(await clients(second).core.readNamespacedPodLog({ name: again!.metadata!.name!, namespace: 'dev' })).toMatch(/^version v1 listening on \d+\n$/);
    expect(secondPid).not.toBe(firstPid);
    const [pod] = (await clients(second).core.listNamespacedPod({ namespace: 'dev', labelSelector: 'app=web' })).items;
    expect(pod?.status?.containerStatuses?.[0]?.restartCount).toBe(1);
    // The registry kept its blobs.
    expect((await fetch(`http://${second.registry}/v2/web/manifests/${image.digest}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).status).toBe(200);
    pids.splice(0, pids.length, ...(await worldStatus(dir)).processes.map((p) => p.pid), secondPid);
  } finally {
    await second.stop();
  }
  expect(pids.filter(processAlive)).toEqual([]);
});
