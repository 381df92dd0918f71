import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { defaultSandboxSettings, type SandboxSettings } from '../../config/sandbox';
import type { SlipwayConfig } from '../../config/schema';
import { emptyUsage, type TokenUsage } from '../../workflows/state';
import { configuredWorktreePaths, verifiedGitDirHint } from '../repo/git';
import { commitPaths } from '../repo/workspace';
import { requireSandbox } from '../sandbox/status';
import { writeWorktreeFile } from '../sandbox/worktreeFs';
import { architect, docsWriter, reviewerComments, serviceRole, serviceRoleName, specWriter, taskPlanner, type ServiceRoleKind } from './roles';
import { runAgent, type Role } from './runtime';
import { openClarifications, requirementsChecklist, specScaffold } from './specTemplate';
import type { ToolContext } from './tools';

export interface Workspace {
  branch: string;
  path: string;
  specDir: string;
  /**
   * The worktree's admin folder in the main repository (`<repo>/.git/worktrees/<name>`), found from
   * the repository's side when the workspace was prepared; Slipway's git uses it instead of the
   * worktree's own `.git` file, which the agent can rewrite. Absent in workspaces recorded earlier.
   */
  gitDir?: string;
}

/** Every agent input carries what the run has spent so far, against the run's token budget. */
export interface Budgeted {
  tokensUsed?: number;
}

export interface WriteSpecInput extends Budgeted {
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

export interface PlanInput extends Budgeted {
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
  /** How the plan touches each service: grpc, events, schema, cache, analytics. */
  integrations: Record<string, string[]>;
  summary: string;
  usage: TokenUsage;
}

export interface TasksResult {
  tasksPath: string;
  taskCount: number;
  usage: TokenUsage;
}

export interface ServiceWorkInput extends Budgeted {
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

/** The agents exist but run only with an `llm` section: say so, non-retryably. */
function needsLlm(activity: string, role: string): never {
  throw ApplicationFailure.nonRetryable(`${activity} needs an llm section in config: the ${role} is an LLM agent`, 'LlmNotConfigured');
}

/** Worktree paths the repository's git config points to; the agents' tools never write them. */
async function protectedPaths(workspace: Workspace): Promise<string[]> {
  const gitDir = workspace.gitDir ?? (await verifiedGitDirHint(workspace.path));
  return (await configuredWorktreePaths({ gitDir, worktree: workspace.path })).map((p) => p.path);
}

/** Runs a role in the run's workspace with the config's model and limits, then commits (and pushes) what it wrote. */
export function createAgentRunner(config: SlipwayConfig, sandbox: SandboxSettings = defaultSandboxSettings(), logger?: Logger) {
  return async function agent<T>(role: Role<T>, prompt: string, input: Budgeted & { runId: string; workspace: Workspace }, commands: string[], commitMessage: string) {
    const llm = config.llm;
    if (llm === undefined) throw new Error('unreachable: agent() without llm');
    const apiKey = process.env[llm.apiKeyEnv];
    if (!apiKey) throw ApplicationFailure.nonRetryable(`${llm.apiKeyEnv} is not set: the agents cannot call the Anthropic API`, 'LlmNotConfigured');
    // No sandbox, no run: checked before the model spends a token.
    await requireSandbox(sandbox, logger, `the ${role.name} of run ${input.runId}`);
    const client = new Anthropic({ apiKey, ...(llm.baseUrl ? { baseURL: llm.baseUrl } : {}), maxRetries: 3, timeout: 10 * 60_000 });
    const ctx: ToolContext = {
      root: input.workspace.path,
      maxFileBytes: 256 * 1024,
      commands,
      commandTimeoutMs: 10 * 60_000,
      outputCapBytes: 16 * 1024,
      sandbox,
      protectedPaths: await protectedPaths(input.workspace),
      ...(logger !== undefined ? { logger } : {}),
      commit: (message) => commitPaths(input.workspace, ['.'], `${message}\n\nRun ${input.runId}.`, config.repository.remote),
    };
    const outcome = await runAgent(client, role, prompt, ctx, {
      model: llm.model,
      maxTurns: llm.maxTurns,
      tokensLeft: llm.tokenBudget - (input.tokensUsed ?? 0),
      maxOutputTokens: 8192,
    });
    await commitPaths(input.workspace, ['.'], `${commitMessage}\n\nRun ${input.runId}; written by the ${role.name} (${llm.model}).`, config.repository.remote);
    return outcome;
  };
}

/** `sandbox` is config's `sandbox:` section (bubblewrap with default limits when absent). */
export function createAgentActivities(deps: { config: SlipwayConfig; sandbox?: SandboxSettings; logger?: Logger }) {
  const { config } = deps;

  const agent = createAgentRunner(config, deps.sandbox, deps.logger);

  async function serviceWork(kind: ServiceRoleKind, activity: string, input: ServiceWorkInput): Promise<ImplementResult> {
    const role = serviceRoleName(kind);
    if (config.llm === undefined) needsLlm(activity, role);
    const service = config.services.find((s) => s.name === input.service);
    if (service === undefined) throw ApplicationFailure.nonRetryable(`service ${input.service} is not in the config`, 'UnknownService');
    const commands = Object.values(service.commands);
    const { result, usage } = await agent(
      serviceRole(kind, { name: service.name, path: service.path, commands }, input.workspace.specDir),
      `Deliver ${input.workspace.branch} in ${service.name}: your part as ${role}.`,
      input,
      commands,
      `${kind === 'implement' ? 'feat' : kind}(${service.name}): ${input.workspace.branch}`,
    );
    if (!result.testsPassed) throw ApplicationFailure.nonRetryable(`${service.name}: the ${role} could not make the service's tests pass: ${result.summary}`, 'ServiceTestsFailed');
    return { commits: [], summary: result.summary, usage };
  }

  return {
    /** The spec writer agent; without an `llm` section, spec-kit's scaffold for a person to complete. */
    async writeSpec(input: WriteSpecInput): Promise<WriteSpecResult> {
      const specPath = `${input.workspace.specDir}/spec.md`;
      const checklistPath = `${input.workspace.specDir}/checklists/requirements.md`;
      if (config.llm !== undefined) {
        const { result, usage } = await agent(
          specWriter(input.workspace.path, input.workspace.specDir),
          `Feature request: "${input.feature}"\nFeature branch: ${input.workspace.branch}${reviewerComments('version', input.comments)}`,
          input,
          [],
          `spec: ${input.workspace.branch} (round ${input.comments.length + 1})`,
        );
        return { specPath, checklistPath, summary: result.summary, clarifications: result.clarifications, usage };
      }
      const spec = specScaffold({
        branch: input.workspace.branch,
        feature: input.feature,
        date: new Date().toISOString().slice(0, 10),
        comments: input.comments,
      });
      await writeText(input.workspace, specPath, spec);
      await writeText(input.workspace, checklistPath, requirementsChecklist({ feature: input.feature, specPath }));
      const round = input.comments.length + 1;
      await commitPaths(input.workspace, [specPath, checklistPath], `spec: scaffold ${input.workspace.branch} (round ${round})\n\nRun ${input.runId}. No LLM is configured: complete the marked sections on this branch.`, config.repository.remote);
      return {
        specPath,
        checklistPath,
        summary: `Spec scaffold (no LLM configured) on branch ${input.workspace.branch}: complete ${specPath} there, then approve.`,
        clarifications: openClarifications(spec),
        usage: emptyUsage(),
      };
    },
    async writePlan(input: PlanInput): Promise<PlanResult> {
      if (config.llm === undefined) needsLlm('writePlan', 'architect');
      const known = config.services.map((s) => s.name);
      const { result, usage } = await agent(
        architect(input.workspace.path, input.workspace.specDir, input.services.length > 0 ? input.services : known),
        `Plan the feature "${input.feature}" from ${input.workspace.specDir}/spec.md.`,
        input,
        [],
        `plan: ${input.workspace.branch}`,
      );
      return {
        planPath: `${input.workspace.specDir}/plan.md`,
        dataModelPath: `${input.workspace.specDir}/data-model.md`,
        services: result.services.map((s) => s.name),
        integrations: Object.fromEntries(result.services.map((s) => [s.name, s.integrations])),
        summary: result.summary,
        usage,
      };
    },
    async writeTasks(input: Budgeted & { runId: string; workspace: Workspace }): Promise<TasksResult> {
      if (config.llm === undefined) needsLlm('writeTasks', 'task planner');
      const { result, usage } = await agent(taskPlanner(input.workspace.path, input.workspace.specDir), `Write the tasks for ${input.workspace.branch}.`, input, [], `tasks: ${input.workspace.branch}`);
      return { tasksPath: `${input.workspace.specDir}/tasks.md`, taskCount: result.taskCount, usage };
    },
    /** gRPC changes of one service: backward-compatible proto, handler, client, tests. */
    async buildGrpc(input: ServiceWorkInput): Promise<ImplementResult> {
      return serviceWork('grpc', 'buildGrpc', input);
    },
    /** Event changes of one service: outbox producer, idempotent consumer, dead-letter handling. */
    async integrateEvents(input: ServiceWorkInput): Promise<ImplementResult> {
      return serviceWork('events', 'integrateEvents', input);
    },
    /** The rest of the service's tasks, until its own tests pass. */
    async implementService(input: ServiceWorkInput): Promise<ImplementResult> {
      return serviceWork('implement', 'implementService', input);
    },
    async writeDocs(input: Budgeted & { runId: string; feature: string; workspace: Workspace }): Promise<DocsResult> {
      if (config.llm === undefined) needsLlm('writeDocs', 'docs writer');
      const { result, usage } = await agent(docsWriter(input.workspace.path, input.workspace.specDir), `Document "${input.feature}".`, input, [], `docs: ${input.workspace.branch}`);
      return { paths: result.paths, usage };
    },
  };
}
export type AgentActivities = ReturnType<typeof createAgentActivities>;

/** Slipway's own writes into the worktree go through the same symlink-proof path as the agents' tools. */
async function writeText(workspace: Workspace, path: string, text: string): Promise<void> {
  await writeWorktreeFile(workspace.path, path, text, 16 * 1024 * 1024);
}
