import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { parseAllDocuments, stringify } from 'yaml';
import type { SandboxSettings } from '../../config/sandbox';
import type { EnvironmentSettings, LlmSettings, RepositorySettings, ServiceSettings } from '../../config/settings';
import type { DeploymentNow } from '../../workflows/rollbackPlan';
import type { Deployment, TokenUsage, Workspace } from '../../workflows/state';
import { manifestWriter, reviewerComments } from '../agents/roles';
import { createRoleRunner, type Budgeted } from '../agents/runner';
import { labelValue } from '../observability/rules';
import { commitPaths } from '../repo/workspace';
import { kindOf, readWorktreeFile, writeWorktreeFile } from '../sandbox/worktreeFs';
import { Cluster, ManifestRejected, RolloutFailed } from './cluster';
import { serviceManifests } from './manifests';

export interface ManifestReview {
  /** Server-side dry-run result shown at the manifest-review gate. */
  summary: string;
  valid: boolean;
}

const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The objects of a multi-document YAML file in the worktree (never read through a symlink); YAML errors name the file. */
async function readManifests(root: string, path: string): Promise<KubernetesObject[]> {
  const documents = parseAllDocuments(await readWorktreeFile(root, path, MAX_MANIFEST_BYTES));
  const broken = documents.flatMap((d) => d.errors);
  if (broken.length > 0) throw new Error(`invalid YAML in ${path}: ${broken[0]?.message}`);
  return documents.map((d) => d.toJS() as KubernetesObject).filter((o) => o !== null && typeof o === 'object');
}

export interface DeployTarget {
  runId: string;
  service: ServiceSettings;
  environment: EnvironmentSettings;
}

export interface ManifestsInput extends Budgeted {
  runId: string;
  services: ServiceSettings[];
  environments: EnvironmentSettings[];
  workspace: Workspace;
  repository: RepositorySettings;
  llm?: LlmSettings;
  comments: string[];
}

const PREVIOUS = 'slipway.dev/previous-revision';
type WithKubernetes = ServiceSettings & { kubernetes: NonNullable<ServiceSettings['kubernetes']> };

export const manifestPath = (workspace: Workspace, environment: string, service: string) => `${workspace.specDir}/deploy/${environment}/${service}.yaml`;

const imageOf = (deployment: V1Deployment | undefined) => deployment?.spec?.template.spec?.containers[0]?.image;

export function createKubernetesActivities(deps: { logger: Logger; sandbox?: SandboxSettings }) {
  const runRole = createRoleRunner(deps);
  const withKubernetes = (service: ServiceSettings): WithKubernetes => {
    if (service.kubernetes === undefined) throw ApplicationFailure.nonRetryable(`service ${service.name} has no kubernetes section in config`, 'NoDeployment');
    return service as WithKubernetes;
  };
  const cluster = (kubeContext?: string) => {
    try {
      return Cluster.forContext(kubeContext);
    } catch (err) {
      throw ApplicationFailure.nonRetryable((err as Error).message, 'KubeContextMissing');
    }
  };
  /** Kubernetes errors as Temporal failures: what no retry fixes is non-retryable. */
  const act = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof RolloutFailed) throw ApplicationFailure.nonRetryable(err.message, 'RolloutFailed');
      if (err instanceof ManifestRejected) throw ApplicationFailure.nonRetryable(err.message, 'ManifestRejected');
      if (err instanceof ApplicationFailure) throw err;
      throw ApplicationFailure.retryable(`Kubernetes API: ${(err as Error).message}`, 'KubernetesUnavailable');
    }
  };
  const objectsFor = async (workspace: Workspace, target: DeployTarget, image?: string): Promise<KubernetesObject[]> => {
    const path = manifestPath(workspace, target.environment.name, target.service.name);
    const objects = (await kindOf(workspace.path, path)) === 'file'
      ? await readManifests(workspace.path, path)
      : serviceManifests(withKubernetes(target.service), { runId: target.runId, branch: workspace.branch, environment: target.environment.name, namespace: target.environment.namespace });
    return image === undefined ? objects : objects.map((o) => withImage(o, image));
  };

  return {
    /**
     * Writes each service's Deployment, Service, ConfigMap, HorizontalPodAutoscaler and
     * PodDisruptionBudget per environment from a template; with an `llm` section the manifest
     * writer agent then adapts them to the plan. Commits (and pushes) them.
     */
    async writeManifests(input: ManifestsInput): Promise<{ paths: string[]; usage?: TokenUsage }> {
      const paths: string[] = [];
      for (const env of input.environments) {
        for (const service of input.services) {
          const path = manifestPath(input.workspace, env.name, service.name);
          // The template is the starting point; a revision after a rejection starts from the last version.
          if ((await kindOf(input.workspace.path, path)) !== 'file' || input.comments.length === 0) {
            const objects = serviceManifests(withKubernetes(service), { runId: input.runId, branch: input.workspace.branch, environment: env.name, namespace: env.namespace });
            await writeWorktreeFile(input.workspace.path, path, objects.map((o) => stringify(o)).join('---\n'), MAX_MANIFEST_BYTES);
          }
          paths.push(path);
        }
      }
      if (input.llm === undefined) {
        await commitPaths(input.workspace, paths, `deploy: manifests for ${input.workspace.branch}\n\nRun ${input.runId}. From Slipway's template.`, input.repository.remote);
        return { paths };
      }
      const outcome = await runRole(
        manifestWriter(input.workspace.path, input.workspace.specDir, paths),
        `Adapt the manifests of ${input.workspace.branch} to its plan.${reviewerComments('manifests', input.comments)}`,
        { ...input, llm: input.llm },
        [],
        `deploy: manifests for ${input.workspace.branch}`,
      );
      return { paths, usage: outcome.usage };
    },

    /** Validates whatever the manifest files hold with a server-side dry run against each environment's cluster; errors are shown at the gate. */
    async validateManifests(input: { runId: string; services: ServiceSettings[]; environments: EnvironmentSettings[]; workspace: Workspace }): Promise<ManifestReview> {
      const problems: string[] = [];
      let checked = 0;
      for (const env of input.environments) {
        const k8s = cluster(env.kubeContext);
        // A dry run of namespaced objects needs the namespace to exist.
        await act(() => k8s.ensureNamespace(env.namespace));
        for (const service of input.services) {
          const objects = await readManifests(input.workspace.path, manifestPath(input.workspace, env.name, service.name)).catch((err: Error) => {
            problems.push(`${env.name}: ${service.name}: ${err.message}`);
            return [];
          });
          for (const object of objects) {
            try {
              await act(() => k8s.applyOne(object, true));
              checked++;
            } catch (err) {
              if ((err as ApplicationFailure).type !== 'ManifestRejected') throw err;
              problems.push(`${env.name}: ${(err as Error).message}`);
            }
          }
        }
      }
      const where = input.environments.map((e) => e.name).join(', ');
      const summary = problems.length === 0 ? `server-side dry run: ${checked} objects valid in ${where}` : `server-side dry run REJECTED ${problems.length} object(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`;
      return { summary, valid: problems.length === 0 };
    },

    /** Server-side apply (field manager `slipway`), with the run's image when one was built, then wait for the rollout. */
    async deployService(input: DeployTarget & { workspace: Workspace; image?: string }): Promise<Deployment> {
      const service = withKubernetes(input.service);
      const { namespace, kubeContext } = input.environment;
      const k8s = cluster(kubeContext);
      return act(async () => {
        await k8s.ensureNamespace(namespace);
        const name = service.kubernetes.deployment;
        const existing = await k8s.readDeployment(name, namespace);
        // A retry finds this run's own Deployment: the revision to return to was recorded on it.
        const ours = existing?.metadata?.labels?.['slipway.dev/run'] === labelValue(input.runId);
        const recorded = existing?.metadata?.annotations?.[PREVIOUS];
        const previous = ours ? (recorded === undefined || recorded === 'none' ? undefined : Number(recorded)) : Cluster.revisionOf(existing);
        const previousImage = ours ? existing?.metadata?.annotations?.[`${PREVIOUS}-image`] : imageOf(existing);
        for (const object of await objectsFor(input.workspace, input, input.image)) {
          if (object.kind === 'Deployment') {
            object.metadata = {
              ...object.metadata,
              annotations: { ...object.metadata?.annotations, [PREVIOUS]: previous === undefined ? 'none' : String(previous), ...(previousImage ? { [`${PREVIOUS}-image`]: previousImage } : {}) },
            };
          }
          await k8s.applyOne(object);
        }
        const revision = await k8s.waitForRollout(name, namespace);
        const live = await k8s.readDeployment(name, namespace);
        const image = imageOf(live);
        // When the rollout completed, as the cluster recorded it: a retried deploy reports the same time.
        const completed = live?.status?.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'NewReplicaSetAvailable')?.lastUpdateTime;
        deps.logger.info({ runId: input.runId, service: service.name, environment: input.environment.name, revision, previous, image }, 'rollout available');
        return {
          deployment: name,
          namespace,
          revision,
          ...(previous !== undefined ? { previousRevision: previous } : {}),
          ...(image !== undefined ? { image } : {}),
          ...(previousImage !== undefined ? { previousImage } : {}),
          at: (completed !== undefined ? new Date(completed) : new Date()).toISOString(),
        };
      });
    },

    /** The Deployment as the cluster shows it now: a later rollback checks that no one changed it since the run. */
    async inspectDeployment(input: { environment: EnvironmentSettings; deployment: string; namespace: string }): Promise<DeploymentNow> {
      const live = await act(() => cluster(input.environment.kubeContext).readDeployment(input.deployment, input.namespace));
      if (live === undefined) return { exists: false };
      const revision = Cluster.revisionOf(live);
      const image = imageOf(live);
      const run = live.metadata?.labels?.['slipway.dev/run'];
      return { exists: true, ...(revision !== undefined ? { revision } : {}), ...(image !== undefined ? { image } : {}), ...(run !== undefined ? { run } : {}) };
    },

    /** The saga's compensation: the previous revision's pod template back (as `kubectl rollout undo`), or the Deployment deleted when this run created it. */
    async rollbackService(input: DeployTarget & { deployment: Deployment }): Promise<void> {
      const k8s = cluster(input.environment.kubeContext);
      const { deployment } = input;
      await act(async () => {
        if (deployment.previousRevision === undefined) {
          await k8s.deleteDeployment(deployment.deployment, deployment.namespace);
          return;
        }
        await k8s.undo(deployment.deployment, deployment.namespace, deployment.previousRevision);
        await k8s.waitForRollout(deployment.deployment, deployment.namespace);
      });
      deps.logger.info({ runId: input.runId, service: input.service.name, environment: input.environment.name }, 'rolled back');
    },
  };
}
export type KubernetesActivities = ReturnType<typeof createKubernetesActivities>;

/** The object with every container of a Deployment running `image` (the run's build, by digest). */
function withImage(object: KubernetesObject, image: string): KubernetesObject {
  if (object.kind !== 'Deployment') return object;
  const copy = structuredClone(object) as V1Deployment;
  for (const container of copy.spec?.template.spec?.containers ?? []) container.image = image;
  return copy as KubernetesObject;
}
