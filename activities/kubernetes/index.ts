import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { parseAllDocuments, stringify } from 'yaml';
import type { SlipwayConfig } from '../../config/schema';
import type { TokenUsage } from '../../workflows/state';
import { createAgentRunner, type Workspace } from '../agents';
import { manifestWriter, reviewerComments } from '../agents/roles';
import { labelValue } from '../observability/rules';
import { commitPaths } from '../repo/workspace';
import { Cluster, ManifestRejected, RolloutFailed } from './cluster';
import { serviceManifests } from './manifests';

export interface ManifestReview {
  paths: string[];
  /** Server-side dry-run result shown at the manifest-review gate. */
  summary: string;
  valid: boolean;
  usage?: TokenUsage;
}

/** The objects of a multi-document YAML file; YAML errors name the file. */
async function readManifests(file: string): Promise<KubernetesObject[]> {
  const documents = parseAllDocuments(await readFile(file, 'utf8'));
  const broken = documents.flatMap((d) => d.errors);
  if (broken.length > 0) throw new Error(`invalid YAML in ${file}: ${broken[0]?.message}`);
  return documents.map((d) => d.toJS() as KubernetesObject).filter((o) => o !== null && typeof o === 'object');
}

export interface DeployTarget {
  runId: string;
  service: string;
  environment: string;
  namespace: string;
  kubeContext?: string;
}

export interface Deployment {
  /** Revision number the rollout produced. */
  revision: number;
  /** The revision to return to on rollback; absent when this run created the Deployment. */
  previousRevision?: number;
}

const PREVIOUS = 'slipway.dev/previous-revision';

export function createKubernetesActivities(deps: { config: SlipwayConfig; logger: Logger }) {
  const { config } = deps;
  const agent = createAgentRunner(config);
  const serviceOf = (name: string) => {
    const service = config.services.find((s) => s.name === name);
    if (service?.kubernetes === undefined) throw ApplicationFailure.nonRetryable(`service ${name} has no kubernetes section in config`, 'NoDeployment');
    return service as typeof service & { kubernetes: NonNullable<typeof service.kubernetes> };
  };
  const environmentOf = (name: string) => {
    const env = config.environments.find((e) => e.name === name);
    if (env === undefined) throw ApplicationFailure.nonRetryable(`environment ${name} is not in the config`, 'UnknownEnvironment');
    return env;
  };
  const manifestPath = (workspace: Workspace, environment: string, service: string) => `${workspace.specDir}/deploy/${environment}/${service}.yaml`;
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
  const objectsFor = async (workspace: Workspace, target: DeployTarget): Promise<KubernetesObject[]> => {
    const file = join(workspace.path, manifestPath(workspace, target.environment, target.service));
    if (existsSync(file)) return readManifests(file);
    return serviceManifests(serviceOf(target.service), { runId: target.runId, branch: workspace.branch, environment: target.environment, namespace: target.namespace });
  };

  return {
    /**
     * Writes each service's Deployment, Service, ConfigMap, HorizontalPodAutoscaler and
     * PodDisruptionBudget per environment (from a template), and validates them with a
     * server-side dry run against each environment's cluster; errors are shown at the gate.
     */
    async prepareManifests(input: { runId: string; services: string[]; environments: string[]; workspace: Workspace; comments: string[]; tokensUsed?: number }): Promise<ManifestReview> {
      const paths: string[] = [];
      for (const envName of input.environments) {
        const env = environmentOf(envName);
        for (const name of input.services) {
          const path = manifestPath(input.workspace, envName, name);
          const file = join(input.workspace.path, path);
          // The template is the starting point; a revision after a rejection starts from the last version.
          if (!existsSync(file) || input.comments.length === 0) {
            const objects = serviceManifests(serviceOf(name), { runId: input.runId, branch: input.workspace.branch, environment: envName, namespace: env.namespace });
            await mkdir(dirname(file), { recursive: true });
            await writeFile(file, objects.map((o) => stringify(o)).join('---\n'));
          }
          paths.push(path);
        }
      }
      let usage: TokenUsage | undefined;
      if (config.llm !== undefined) {
        const outcome = await agent(manifestWriter(input.workspace.path, input.workspace.specDir, paths), `Adapt the manifests of ${input.workspace.branch} to its plan.${reviewerComments('manifests', input.comments)}`, input, [], `deploy: manifests for ${input.workspace.branch}`);
        usage = outcome.usage;
      } else {
        await commitPaths(input.workspace, paths, `deploy: manifests for ${input.workspace.branch}\n\nRun ${input.runId}. From Slipway's template.`, config.repository.remote);
      }

      // Whatever is in the files now is what a server-side dry run validates.
      const problems: string[] = [];
      let checked = 0;
      for (const envName of input.environments) {
        const env = environmentOf(envName);
        const k8s = cluster(env.kubeContext);
        await act(() => k8s.ensureNamespace(env.namespace));
        for (const name of input.services) {
          const objects = await readManifests(join(input.workspace.path, manifestPath(input.workspace, envName, name))).catch((err: Error) => {
            problems.push(`${envName}: ${name}: ${err.message}`);
            return [];
          });
          for (const object of objects) {
            try {
              await act(() => k8s.applyOne(object, true));
              checked++;
            } catch (err) {
              if ((err as ApplicationFailure).type !== 'ManifestRejected') throw err;
              problems.push(`${envName}: ${(err as Error).message}`);
            }
          }
        }
      }
      const summary = problems.length === 0 ? `server-side dry run: ${checked} objects valid in ${input.environments.join(', ')}` : `server-side dry run REJECTED ${problems.length} object(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`;
      return { paths, summary, valid: problems.length === 0, ...(usage ? { usage } : {}) };
    },

    /** Server-side apply (field manager `slipway`), then wait for the rollout to become available. */
    async deployService(input: DeployTarget & { workspace: Workspace }): Promise<Deployment> {
      const service = serviceOf(input.service);
      const k8s = cluster(input.kubeContext);
      return act(async () => {
        await k8s.ensureNamespace(input.namespace);
        const name = service.kubernetes.deployment;
        const existing = await k8s.readDeployment(name, input.namespace);
        // A retry finds this run's own Deployment: the revision to return to was recorded on it.
        const ours = existing?.metadata?.labels?.['slipway.dev/run'] === labelValue(input.runId);
        const recorded = existing?.metadata?.annotations?.[PREVIOUS];
        const previous = ours ? (recorded === undefined || recorded === 'none' ? undefined : Number(recorded)) : Cluster.revisionOf(existing);
        for (const object of await objectsFor(input.workspace, input)) {
          if (object.kind === 'Deployment') {
            object.metadata = { ...object.metadata, annotations: { ...object.metadata?.annotations, [PREVIOUS]: previous === undefined ? 'none' : String(previous) } };
          }
          await k8s.applyOne(object);
        }
        const revision = await k8s.waitForRollout(name, input.namespace);
        deps.logger.info({ runId: input.runId, service: input.service, environment: input.environment, revision, previous }, 'rollout available');
        return { revision, ...(previous !== undefined ? { previousRevision: previous } : {}) };
      });
    },

    /** The saga's compensation: the previous revision's pod template back (as `kubectl rollout undo`), or the Deployment deleted when this run created it. */
    async rollbackService(input: DeployTarget & { deployment: Deployment }): Promise<void> {
      const name = serviceOf(input.service).kubernetes.deployment;
      const k8s = cluster(input.kubeContext);
      await act(async () => {
        if (input.deployment.previousRevision === undefined) {
          await k8s.deleteDeployment(name, input.namespace);
          return;
        }
        await k8s.undo(name, input.namespace, input.deployment.previousRevision);
        await k8s.waitForRollout(name, input.namespace);
      });
      deps.logger.info({ runId: input.runId, service: input.service, environment: input.environment }, 'rolled back');
    },
  };
}
export type KubernetesActivities = ReturnType<typeof createKubernetesActivities>;
