/**
 * The Helm chart: `helm lint`, `helm template` with the default and the production-like values,
 * what every pod promises (security context, probes, secrets by name only), the rendered config
 * read by Slipway's own schema, and a server-side dry run of every rendered object against a real
 * kube-apiserver — the ServiceMonitor too, after installing prometheus-operator's CRD from its Go module.
 */
import { execFile } from 'node:child_process';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ApiextensionsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../config/load';
import { temporalSchema } from '../../config/schema';
import { connectionOptions } from '../../config/temporal';
import { startControlPlane, type ControlPlane, type KubeBinaries } from '../../scripts/kubernetes';
import { eventually } from '../support/temporal';
import { makePki } from '../support/tlsProxy';

const run = promisify(execFile);
const chart = resolve(__dirname, '../../deploy/helm/slipway');
const productionValues = join(chart, 'ci/production-values.yaml');
const PROMETHEUS_OPERATOR = 'github.com/prometheus-operator/prometheus-operator@v0.85.0';
const helm = (...args: string[]) => run(process.env.SLIPWAY_TEST_HELM ?? 'helm', args, { maxBuffer: 16 * 1024 * 1024 });

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests are read as plain JSON
type Manifest = KubernetesObject & { spec?: any; data?: Record<string, string> };

async function template(...values: string[]): Promise<Manifest[]> {
  const { stdout } = await helm('template', 'slipway', chart, '--namespace', 'delivery', ...values.flatMap((v) => ['-f', v]));
  return parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

const kinds = (objects: Manifest[]) => objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort();
const podSpecs = (objects: Manifest[]) => objects.filter((o) => o.kind === 'Deployment').map((o) => ({ name: o.metadata?.name ?? '', spec: o.spec.template.spec }));

test('helm lint passes (strict) with the default and the production-like values', async () => {
  for (const values of [[], ['-f', productionValues]]) {
    const { stdout } = await helm('lint', '--strict', chart, ...values);
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  }
});

test('the default values render a worker (two replicas), the API and its Service, the config, PDBs; no ServiceMonitor, RBAC or Secret', async () => {
  const objects = await template();
  expect(kinds(objects)).toEqual([
    'ConfigMap/slipway-config',
    'Deployment/slipway-api',
    'Deployment/slipway-worker',
    'PodDisruptionBudget/slipway-api',
    'PodDisruptionBudget/slipway-worker',
    'Service/slipway-api',
    'Service/slipway-worker-metrics',
    'ServiceAccount/slipway',
  ]);
  expect(objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'slipway-worker')?.spec.replicas).toBe(2);
});

test('every pod runs non-root with a read-only root, no capabilities, RuntimeDefault seccomp, probes and limits; secrets only by name', async () => {
  for (const values of [[], [productionValues]]) {
    const objects = await template(...values);
    for (const { name, spec } of podSpecs(objects)) {
      expect([name, spec.securityContext]).toEqual([name, expect.objectContaining({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } })]);
      for (const container of spec.containers) {
        expect([name, container.securityContext]).toEqual([name, expect.objectContaining({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })]);
        expect(container.readinessProbe.httpGet.path).toMatch(/^\/(readyz|healthz)$/);
        expect(container.livenessProbe.httpGet.path).toBe('/healthz');
        expect(container.resources.limits).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
        // Plain values are names, paths, addresses and flags; secrets arrive through secretRef/secretKeyRef.
        for (const variable of container.env as { name: string; value?: string }[]) {
          expect([variable.name, /(TOKEN|SECRET|PASSWORD|API_KEY)$/.test(variable.name) && variable.value !== undefined]).toEqual([variable.name, false]);
        }
      }
      // With a read-only root, every writable path is a volume.
      const mounts = spec.containers.flatMap((c: { volumeMounts: { mountPath: string }[] }) => c.volumeMounts.map((m) => m.mountPath));
      expect(mounts).toContain('/tmp');
    }
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
  }
  const production = await template(productionValues);
  const worker = podSpecs(production).find((p) => p.name === 'slipway-worker')?.spec;
  expect(worker.containers[0].envFrom).toEqual([{ secretRef: { name: 'slipway-worker' } }]);
  expect(worker.volumes).toEqual(expect.arrayContaining([{ name: 'workdir', persistentVolumeClaim: { claimName: 'slipway-workdir' } }, { name: 'temporal-tls', secret: { secretName: 'slipway-temporal-mtls', defaultMode: 0o440 } }]));
  expect(production.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'slipway-worker')?.spec.replicas).toBe(3);
});

test('the rendered config is valid for Slipway, and its Temporal mTLS settings read the files the Secret mounts', async () => {
  const objects = await template(productionValues);
  const text = objects.find((o) => o.kind === 'ConfigMap')?.data?.['slipway.config.yaml'] ?? '';
  const raw = parseAllDocuments(text)[0]?.toJS() as { temporal: unknown };
  const config = parseConfig(raw, 'rendered ConfigMap');
  expect(config.services.map((s) => s.name)).toEqual(['messages', 'notifications']);
  const temporal = temporalSchema.parse(raw.temporal);
  expect(temporal.tls).toEqual({ serverName: 'temporal-frontend.temporal.svc.cluster.local', caCertEnv: 'TEMPORAL_TLS_CA', clientCertEnv: 'TEMPORAL_TLS_CERT', clientKeyEnv: 'TEMPORAL_TLS_KEY' });
  // The pod's env names files in the mounted Secret; stand the files up and read them as the worker would.
  const worker = podSpecs(objects).find((p) => p.name === 'slipway-worker')?.spec.containers[0];
  const env = Object.fromEntries((worker.env as { name: string; value?: string }[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
  const pki = await makePki('temporal-frontend.temporal.svc.cluster.local');
  const mounted = (path: string) => path.replace('/etc/slipway/temporal-tls/ca.crt', pki.files.ca).replace('/etc/slipway/temporal-tls/tls.crt', pki.files.clientCert).replace('/etc/slipway/temporal-tls/tls.key', pki.files.clientKey);
  const options = connectionOptions(temporal, Object.fromEntries(Object.entries(env).map(([k, v]) => [k, mounted(v)])));
  expect(options.tls?.clientCertPair?.crt.toString()).toBe(pki.clientCert);

  // The default values leave services empty: NOTES warns, and Slipway would stop at start saying so.
  const defaults = await template();
  const defaultConfig = parseAllDocuments(defaults.find((o) => o.kind === 'ConfigMap')?.data?.['slipway.config.yaml'] ?? '')[0]?.toJS();
  expect(() => parseConfig(defaultConfig, 'default values')).toThrow(/services: list at least one service/);
});

async function postRaw(kc: KubeConfig, path: string, body: object): Promise<void> {
  const options: RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const url = new URL(path, kc.getCurrentCluster()?.server);
  await new Promise<void>((done, fail) => {
    const req = httpsRequest(url, { ...options, method: 'POST', headers: { ...options.headers, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => ((res.statusCode ?? 500) < 300 ? done() : fail(new Error(`POST ${path}: ${res.statusCode} ${text}`))));
    });
    req.on('error', fail);
    req.end(JSON.stringify(body));
  });
}

describe('server-side dry run against a real kube-apiserver', () => {
  let plane: ControlPlane;
  let objectsApi: KubernetesObjectApi;
  let core: CoreV1Api;

  beforeAll(async () => {
    plane = await startControlPlane(JSON.parse(process.env.SLIPWAY_TEST_KUBE_BINARIES as string) as KubeBinaries, { nodes: 1 });
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    objectsApi = KubernetesObjectApi.makeApiClient(kc);
    core = kc.makeApiClient(CoreV1Api);
    // prometheus-operator's published ServiceMonitor CRD, read from its Go module (Apache-2.0, not copied here).
    const { stdout } = await run('go', ['mod', 'download', '-json', PROMETHEUS_OPERATOR], { maxBuffer: 16 * 1024 * 1024 });
    const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
    expect(await readFile(join(dir, 'LICENSE'), 'utf8')).toContain('Apache License');
    const crd = parseAllDocuments(await readFile(join(dir, 'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml'), 'utf8'))[0]?.toJS() as object;
    // Posted as it is: the typed client's model would drop schema extensions (x-kubernetes-int-or-string) the CRD relies on.
    await postRaw(kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await eventually(async () => {
      const read = await extensions.readCustomResourceDefinition({ name: 'servicemonitors.monitoring.coreos.com' });
      return read.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    }, 'the ServiceMonitor CRD to be established');
  }, 240_000);
  afterAll(() => plane?.stop());

  test.each([
    ['default values', [] as string[]],
    ['production-like values', [productionValues]],
  ])('every object rendered with the %s is accepted by the API server (dryRun=All), its pods under the restricted Pod Security profile', async (_name, values) => {
    const objects = await template(...values);
    const namespaces = new Set(['delivery', ...objects.map((o) => o.metadata?.namespace).filter((n): n is string => n !== undefined)]);
    // Pod Security Admission enforces the "restricted" profile on pods in these namespaces.
    const restricted = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' };
    for (const name of namespaces) await core.createNamespace({ body: { metadata: { name, labels: restricted } } }).catch(() => undefined);
    const rejected: string[] = [];
    // Each Deployment's pod template as a Pod, which PSA checks (it only warns on Deployments).
    const pods = objects
      .filter((o) => o.kind === 'Deployment')
      .map((o) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${o.metadata?.name}-pod`, labels: o.spec.template.metadata.labels }, spec: o.spec.template.spec }) as Manifest);
    for (const object of [...objects, ...pods]) {
      const namespaced = { ...object, metadata: { ...object.metadata, namespace: object.metadata?.namespace ?? 'delivery' } };
      try {
        // The service account is created for real: a Pod's admission looks it up.
        const serviceAccount = object.kind === 'ServiceAccount';
        await objectsApi.create(namespaced, undefined, serviceAccount ? undefined : 'All').catch((err: unknown) => {
          if (!(serviceAccount && String((err as { body?: string }).body).includes('AlreadyExists'))) throw err;
        });
      } catch (err) {
        rejected.push(`${object.kind}/${object.metadata?.name}: ${(err as { body?: string }).body ?? (err as Error).message}`);
      }
    }
    expect(rejected).toEqual([]);
    if (values.length > 0) expect(kinds(objects)).toEqual(expect.arrayContaining(['ServiceMonitor/slipway', 'Role/slipway-deployer', 'RoleBinding/slipway-deployer']));
  }, 60_000);

  test('a broken value is refused by the API server with its message (the dry run can fail)', async () => {
    const objects = await template(productionValues);
    const worker = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'slipway-worker') as Manifest;
    worker.spec.template.spec.containers[0].resources.limits.memory = 'lots';
    const err = await objectsApi.create({ ...worker, metadata: { ...worker.metadata, namespace: 'delivery' } }, undefined, 'All').catch((e: unknown) => e);
    expect(String((err as { body?: string }).body ?? err)).toMatch(/quantities must match the regular expression|unable to parse quantity/);
    // Without its security context the pod breaks the restricted profile, and PSA says so.
    const spec = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'slipway-api')?.spec.template.spec;
    const loose = { ...spec, securityContext: {}, containers: spec.containers.map((c: object) => ({ ...c, securityContext: {} })) };
    const refused = await objectsApi.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'loose', namespace: 'delivery' }, spec: loose } as Manifest, undefined, 'All').catch((e: unknown) => e);
    expect(String((refused as { body?: string }).body ?? refused)).toMatch(/violates PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation/);
  });
});
