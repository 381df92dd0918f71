import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
} from '@kubernetes/client-node';
import { heartbeatIfActivity } from '../heartbeat';

export const FIELD_MANAGER = 'slipway';
const REVISION = 'deployment.kubernetes.io/revision';

/** A rollout that did not become available; the message carries what a person needs to act. */
export class RolloutFailed extends Error {
  override name = 'RolloutFailed';
}

/** The API server refused an object (validation, admission). */
export class ManifestRejected extends Error {
  override name = 'ManifestRejected';
}

const describeObject = (o: KubernetesObject) => `${o.kind}/${o.metadata?.name}`;

/** The API server's own message, from a client-node error. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return (err as Error).message;
}

const statusCode = (err: unknown) => (err as { code?: number }).code;

/** The Deployment's own selector, as a label selector string. */
const selectorOf = (deployment: V1Deployment) =>
  Object.entries(deployment.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** One cluster (a kube context), through @kubernetes/client-node, acting as `kubectl` would. */
export class Cluster {
  private readonly objects: KubernetesObjectApi;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** The kubeconfig from KUBECONFIG (or ~/.kube/config), at the environment's context when it names one. */
  static forContext(kubeContext?: string): Cluster {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    if (kubeContext !== undefined) {
      if (!kc.getContexts().some((c) => c.name === kubeContext)) throw new Error(`kube context "${kubeContext}" is not in the kubeconfig`);
      kc.setCurrentContext(kubeContext);
    }
    return new Cluster(kc);
  }

  async ensureNamespace(namespace: string, dryRun = false): Promise<void> {
    await this.applyOne({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }, dryRun);
  }

  /**
   * Server-side apply (field manager `slipway`); returns whether the object changed: its
   * generation moved (spec changes), or, for objects without one, Slipway's own managed fields
   * did. (resourceVersion alone would also move with every status update by a controller.)
   */
  async applyOne(object: KubernetesObject, dryRun = false): Promise<boolean> {
    const header = { apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.metadata?.name ?? '', namespace: object.metadata?.namespace } };
    let before: KubernetesObject | undefined;
    try {
      before = await this.objects.read(header);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    let after: KubernetesObject;
    try {
      after = await this.objects.patch(object, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      const code = statusCode(err);
      const message = apiMessage(err);
      // Invalid values (e.g. a malformed quantity) can surface as a 500 conversion failure.
      if ((code !== undefined && code >= 400 && code < 500) || /failed to convert|unable to convert/.test(message)) {
        throw new ManifestRejected(`${describeObject(object)}: ${message}`);
      }
      throw err;
    }
    if (before === undefined) return true;
    const ownFields = (o: KubernetesObject) => JSON.stringify(o.metadata?.managedFields?.find((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply') ?? null);
    if (before.metadata?.generation !== undefined) return before.metadata.generation !== after.metadata?.generation || ownFields(before) !== ownFields(after);
    return before.metadata?.resourceVersion !== after.metadata?.resourceVersion;
  }

  async readDeployment(name: string, namespace: string): Promise<V1Deployment | undefined> {
    try {
      return await this.apps.readNamespacedDeployment({ name, namespace });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  static revisionOf(deployment: V1Deployment | undefined): number | undefined {
    const value = deployment?.metadata?.annotations?.[REVISION];
    return value === undefined ? undefined : Number(value);
  }

  /**
   * Waits, as `kubectl rollout status` does, until the Deployment reports the new generation
   * observed and every replica updated and available, or until its progress deadline passes.
   * Heartbeats while it waits. Returns the revision that became available.
   */
  async waitForRollout(name: string, namespace: string, options: { pollMs?: number; timeoutMs?: number } = {}): Promise<number> {
    const deadline = Date.now() + (options.timeoutMs ?? 60 * 60_000);
    for (;;) {
      const d = await this.readDeployment(name, namespace);
      if (d === undefined) throw new RolloutFailed(`deployment ${namespace}/${name} disappeared during the rollout`);
      const status = d.status ?? {};
      const wanted = d.spec?.replicas ?? 1;
      heartbeatIfActivity({ deployment: name, updated: status.updatedReplicas ?? 0, available: status.availableReplicas ?? 0, wanted });
      if ((d.metadata?.generation ?? 0) <= (status.observedGeneration ?? -1)) {
        const progressing = status.conditions?.find((c) => c.type === 'Progressing');
        if (progressing?.reason === 'ProgressDeadlineExceeded') {
          throw new RolloutFailed(`deployment ${namespace}/${name} exceeded its progress deadline (${d.spec?.progressDeadlineSeconds}s): ${progressing.message ?? ''}\n${await this.diagnostics(d)}`);
        }
        const updated = status.updatedReplicas ?? 0;
        const done = updated >= wanted && (status.replicas ?? 0) <= updated && (status.availableReplicas ?? 0) >= updated && (status.unavailableReplicas ?? 0) === 0;
        if (done) return Cluster.revisionOf(d) ?? 0;
      }
      if (Date.now() > deadline) throw new RolloutFailed(`deployment ${namespace}/${name} did not finish its rollout in time\n${await this.diagnostics(d)}`);
      await new Promise((r) => setTimeout(r, options.pollMs ?? 1_000));
    }
  }

  /** What a person needs when a rollout fails: the pods that are not ready, their conditions, events and last log lines. */
  async diagnostics(deployment: V1Deployment): Promise<string> {
    const namespace = deployment.metadata?.namespace ?? 'default';
    const pods = await this.core.listNamespacedPod({ namespace, labelSelector: selectorOf(deployment) });
    const lines: string[] = [];
    for (const pod of pods.items.filter((p) => !p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).slice(0, 5)) {
      const name = pod.metadata?.name ?? '?';
      lines.push(`pod ${name}: phase ${pod.status?.phase ?? '?'}`);
      for (const c of pod.status?.conditions ?? []) if (c.status !== 'True') lines.push(`  condition ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`);
      const events = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
      for (const e of events.items.slice(-5)) lines.push(`  event ${e.type ?? ''} ${e.reason ?? ''}: ${e.message ?? ''}`);
      const logs = await this.core.readNamespacedPodLog({ name, namespace, tailLines: 10 }).catch(() => undefined);
      if (logs) lines.push(...logs.trimEnd().split('\n').map((l) => `  log: ${l}`));
    }
    return lines.length > 0 ? lines.join('\n') : 'no unready pods found';
  }

  /** What `kubectl rollout undo --to-revision` does: the ReplicaSet of that revision gives back its pod template. */
  async undo(name: string, namespace: string, revision: number): Promise<void> {
    const d = await this.readDeployment(name, namespace);
    if (d === undefined) throw new RolloutFailed(`deployment ${namespace}/${name} does not exist; nothing to roll back`);
    const sets = await this.apps.listNamespacedReplicaSet({ namespace, labelSelector: selectorOf(d) });
    const previous = sets.items.find((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid) && rs.metadata?.annotations?.[REVISION] === String(revision));
    if (previous?.spec?.template === undefined) throw new RolloutFailed(`deployment ${namespace}/${name} has no ReplicaSet for revision ${revision} to roll back to`);
    const template = structuredClone(previous.spec.template);
    delete template.metadata?.labels?.['pod-template-hash'];
    await this.apps.patchNamespacedDeployment(
      { name, namespace, body: [{ op: 'replace', path: '/spec/template', value: template }], fieldManager: FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
  }

  /** Deletes the Deployment with its ReplicaSets and pods, and waits until it is gone. */
  async deleteDeployment(name: string, namespace: string, timeoutMs = 120_000): Promise<void> {
    try {
      await this.apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Foreground' });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    const deadline = Date.now() + timeoutMs;
    while ((await this.readDeployment(name, namespace)) !== undefined) {
      heartbeatIfActivity({ deleting: name });
      if (Date.now() > deadline) throw new RolloutFailed(`deployment ${namespace}/${name} was not deleted within ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
