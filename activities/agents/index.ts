import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SlipwayConfig } from '../../config/schema';
import { emptyUsage, type TokenUsage } from '../../workflows/state';
import { adapterMissing } from '../missing';
import { commitPaths } from '../repo/workspace';
import { openClarifications, requirementsChecklist, specScaffold } from './specTemplate';

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

export function createAgentActivities(deps: { config: SlipwayConfig }) {
  return {
    /** Without an `llm` section: spec-kit's scaffold, committed on the feature branch for a person to complete. */
    async writeSpec(input: WriteSpecInput): Promise<WriteSpecResult> {
      if (deps.config.llm !== undefined) adapterMissing('writeSpec', needsAgents);
      const specPath = `${input.workspace.specDir}/spec.md`;
      const checklistPath = `${input.workspace.specDir}/checklists/requirements.md`;
      const spec = specScaffold({
        branch: input.workspace.branch,
        feature: input.feature,
        date: new Date().toISOString().slice(0, 10),
        comments: input.comments,
      });
      await writeText(join(input.workspace.path, specPath), spec);
      await writeText(join(input.workspace.path, checklistPath), requirementsChecklist({ feature: input.feature, specPath }));
      const round = input.comments.length + 1;
      await commitPaths(input.workspace, [specPath, checklistPath], `spec: scaffold ${input.workspace.branch} (round ${round})\n\nRun ${input.runId}. No LLM is configured: complete the marked sections on this branch.`);
      return {
        specPath,
        checklistPath,
        summary: `Spec scaffold (no LLM configured) on branch ${input.workspace.branch}: complete ${specPath} there, then approve.`,
        clarifications: openClarifications(spec),
        usage: emptyUsage(),
      };
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

async function writeText(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
}
