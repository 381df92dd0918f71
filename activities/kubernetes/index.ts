import type { SlipwayConfig } from '../../config/schema';
import type { Workspace } from '../agents';
import { adapterMissing } from '../missing';

export interface ManifestReview {
  paths: string[];
  /** Server-side dry-run result and the diff shown at the manifest-review gate. */
  summary: string;
  valid: boolean;
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

const needsKubernetes = 'Kubernetes deployments (issue #5) are required';

export function createKubernetesActivities(_deps: { config: SlipwayConfig }) {
  return {
    async prepareManifests(_input: { runId: string; services: string[]; environments: string[]; workspace: Workspace; comments: string[] }): Promise<ManifestReview> {
      adapterMissing('prepareManifests', needsKubernetes);
    },
    /** Server-side apply, then wait for the rollout to become available. */
    async deployService(_input: DeployTarget & { workspace: Workspace }): Promise<Deployment> {
      adapterMissing('deployService', needsKubernetes);
    },
    /** Restores the previous revision, or deletes a Deployment this run created. */
    async rollbackService(_input: DeployTarget & { deployment: Deployment }): Promise<void> {
      adapterMissing('rollbackService', needsKubernetes);
    },
  };
}
export type KubernetesActivities = ReturnType<typeof createKubernetesActivities>;
