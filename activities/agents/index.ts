import type { SlipwayConfig } from '../../config/schema';
import type { TokenUsage } from '../../workflows/state';
import { adapterMissing } from '../missing';

export interface Workspace {
  branch: string;
  path: string;
  specDir: string;
}

export interface WriteSpecInput {
  runId: string;
  feature: string;
  workspace: Workspace;
  /** Reviewer comments from earlier rejected rounds, oldest first. */
  comments: string[];
}
export interface WriteSpecResult {
  specPath: string;
  checklistPath: string;
  summary: string;
  clarifications: string[];
  usage: TokenUsage;
}

export interface PlanInput {
  runId: string;
  feature: string;
  workspace: Workspace;
  /** Services the requester named; empty lets the architect choose among the configured ones. */
  services: string[];
}
export interface PlanResult {
  planPath: string;
  dataModelPath: string;
  /** Affected services in rollout order. */
  services: string[];
  summary: string;
  usage: TokenUsage;
}

export interface TasksResult {
  tasksPath: string;
  taskCount: number;
  usage: TokenUsage;
}

export interface ServiceWorkInput {
  runId: string;
  service: string;
  workspace: Workspace;
}
export interface ImplementResult {
  commits: string[];
  summary: string;
  usage: TokenUsage;
}

export interface DocsResult {
  paths: string[];
  usage: TokenUsage;
}

const needsAgents = 'the LLM agent runtime (issue #3) is required';

export function createAgentActivities(_deps: { config: SlipwayConfig }) {
  return {
    async writeSpec(_input: WriteSpecInput): Promise<WriteSpecResult> {
      adapterMissing('writeSpec', needsAgents);
    },
    async writePlan(_input: PlanInput): Promise<PlanResult> {
      adapterMissing('writePlan', needsAgents);
    },
    async writeTasks(_input: { runId: string; workspace: Workspace }): Promise<TasksResult> {
      adapterMissing('writeTasks', needsAgents);
    },
    async implementService(_input: ServiceWorkInput): Promise<ImplementResult> {
      adapterMissing('implementService', needsAgents);
    },
    async writeDocs(_input: { runId: string; feature: string; workspace: Workspace }): Promise<DocsResult> {
      adapterMissing('writeDocs', needsAgents);
    },
  };
}
export type AgentActivities = ReturnType<typeof createAgentActivities>;
