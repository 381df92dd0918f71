import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { SandboxSettings } from '../../config/sandbox';
import type { LlmSettings, RepositorySettings, ServiceSettings } from '../../config/settings';
import { emptyUsage, type TokenUsage, type Workspace } from '../../workflows/state';
import { commitPaths, syncWorkspace } from '../repo/workspace';
import { kindOf, readWorktreeFile, writeWorktreeFile } from '../sandbox/worktreeFs';
import { architect, docsWriter, reviewerComments, serviceRole, serviceRoleName, specWriter, taskPlanner, type ServiceRoleKind } from './roles';
import { createRoleRunner, requireLlm, type Budgeted } from './runner';
import { dataModelScaffold, openClarifications, plannedServicesOf, planScaffold, requirementsChecklist, specScaffold, tasksScaffold, taskCountOf } from './scaffolds';

/** Where a run writes: its worktree, and how its branch reaches people (the remote). */
interface InWorkspace {
  runId: string;
  workspace: Workspace;
  repository: RepositorySettings;
}

/** What Slipway found when it read back a person's step: `ok`, or the problems to fix before the run goes on. */
export interface PersonCheck {
  ok: boolean;
  problems: string[];
}

export interface WriteSpecInput extends InWorkspace, Budgeted {
  feature: string;
  llm?: LlmSettings;
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

export interface PlanInput extends InWorkspace, Budgeted {
  feature: string;
  llm?: LlmSettings;
  /** The services the plan may name (the requested ones, or every configured one). */
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

export interface ServiceWorkInput extends InWorkspace, Budgeted {
  service: ServiceSettings;
  llm?: LlmSettings;
}
export interface ImplementResult {
  summary: string;
  usage: TokenUsage;
}

export interface DocsResult {
  paths: string[];
  usage: TokenUsage;
}

const today = () => new Date().toISOString().slice(0, 10);

/** Slipway's own writes into the worktree go through the same symlink-proof path as the agents' tools. */
async function writeText(root: string, path: string, text: string): Promise<void> {
  await writeWorktreeFile(root, path, text, 16 * 1024 * 1024);
}

const exists = async (root: string, path: string) => (await kindOf(root, path)) === 'file';

/** The gate text for a person's step: what to write, where, and how to say it is done. */
function personInstructions(input: InWorkspace, what: string, files: string[]): string {
  const where = input.repository.remote
    ? `Commit on branch \`${input.workspace.branch}\` and push it to \`${input.repository.remote}\` (Slipway pushed its scaffold there).`
    : `Commit on branch \`${input.workspace.branch}\` in the worktree ${input.workspace.path}.`;
  return `${what}\nFiles: ${files.map((f) => `\`${f}\``).join(', ')}.\n${where}\nThen approve this gate: Slipway checks what was committed and reopens the gate with the reasons if something is missing.`;
}

/** `sandbox` is the worker's `sandbox:` section (bubblewrap with default limits when absent). */
export function createAgentActivities(deps: { logger: Logger; sandbox?: SandboxSettings }) {
  const runRole = createRoleRunner(deps);

  async function serviceWork(kind: ServiceRoleKind, activity: string, input: ServiceWorkInput): Promise<ImplementResult> {
    const role = serviceRoleName(kind);
    const call = requireLlm(input, activity, role);
    const { service } = input;
    const commands = Object.values(service.commands);
    const { result, usage } = await runRole(
      serviceRole(kind, { name: service.name, path: service.path, commands }, input.workspace.specDir),
      `Deliver ${input.workspace.branch} in ${service.name}: your part as ${role}.`,
      call,
      commands,
      `${kind === 'implement' ? 'feat' : kind}(${service.name}): ${input.workspace.branch}`,
    );
    if (!result.testsPassed) throw ApplicationFailure.nonRetryable(`${service.name}: the ${role} could not make the service's tests pass: ${result.summary}`, 'ServiceTestsFailed');
    deps.logger.info({ runId: input.runId, service: service.name, role }, 'service work done');
    return { summary: result.summary, usage };
  }

  /** Pulls what a person pushed, then reads the files back; a missing file is a problem, not a failure. */
  async function readBack(input: InWorkspace, path: string): Promise<{ text?: string; problems: string[] }> {
    const sync = await syncWorkspace(input.workspace, input.repository.remote);
    if (sync.problem !== undefined) return { problems: [sync.problem] };
    if (!(await exists(input.workspace.path, path))) return { problems: [`${path} is not on branch ${input.workspace.branch}`] };
    return { text: await readWorktreeFile(input.workspace.path, path, 1024 * 1024), problems: [] };
  }

  return {
    /** The spec writer agent; without an `llm` section, spec-kit's scaffold for a person to complete. */
    async writeSpec(input: WriteSpecInput): Promise<WriteSpecResult> {
      const specPath = `${input.workspace.specDir}/spec.md`;
      const checklistPath = `${input.workspace.specDir}/checklists/requirements.md`;
      if (input.llm !== undefined) {
        const { result, usage } = await runRole(
          specWriter(input.workspace.path, input.workspace.specDir),
          `Feature request: "${input.feature}"\nFeature branch: ${input.workspace.branch}${reviewerComments('version', input.comments)}`,
          { ...input, llm: input.llm },
          [],
          `spec: ${input.workspace.branch} (round ${input.comments.length + 1})`,
        );
        return { specPath, checklistPath, summary: result.summary, clarifications: result.clarifications, usage };
      }
      // A person writes it: the scaffold once (a rejected round keeps their text and adds the comments).
      const existing = await exists(input.workspace.path, specPath);
      const spec = specScaffold({ branch: input.workspace.branch, feature: input.feature, date: today(), comments: input.comments });
      if (!existing) {
        await writeText(input.workspace.path, specPath, spec);
        await writeText(input.workspace.path, checklistPath, requirementsChecklist({ feature: input.feature, specPath }));
        await commitPaths(input.workspace, [specPath, checklistPath], `spec: scaffold ${input.workspace.branch}\n\nRun ${input.runId}. No LLM is configured: complete the marked sections on this branch.`, input.repository.remote);
      }
      const comments = input.comments.length > 0 ? `\nAddress the reviewer's comments:\n${input.comments.map((c, i) => `${i + 1}. ${c}`).join('\n')}` : '';
      return {
        specPath,
        checklistPath,
        summary: personInstructions(input, `Write the spec: complete every [NEEDS CLARIFICATION] section of the scaffold.${comments}`, [specPath, checklistPath]),
        clarifications: openClarifications(spec),
        usage: emptyUsage(),
      };
    },

    /** A person's spec, read back: it exists and no [NEEDS CLARIFICATION] marker is left. */
    async checkSpec(input: InWorkspace): Promise<PersonCheck & { clarifications: string[] }> {
      const { text, problems } = await readBack(input, `${input.workspace.specDir}/spec.md`);
      const clarifications = text === undefined ? [] : openClarifications(text);
      if (clarifications.length > 0) problems.push(`spec.md still has ${clarifications.length} [NEEDS CLARIFICATION] marker(s): ${clarifications.join('; ')}`);
      return { ok: problems.length === 0, problems, clarifications };
    },

    async writePlan(input: PlanInput): Promise<PlanResult> {
      const call = requireLlm(input, 'writePlan', 'architect');
      const { result, usage } = await runRole(
        architect(input.workspace.path, input.workspace.specDir, input.services),
        `Plan the feature "${input.feature}" from ${input.workspace.specDir}/spec.md.`,
        call,
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

    /** For a person: plan.md (with its machine-readable services block) and data-model.md to complete. */
    async scaffoldPlan(input: InWorkspace & { feature: string; services: string[] }): Promise<{ instructions: string }> {
      const planPath = `${input.workspace.specDir}/plan.md`;
      const dataModelPath = `${input.workspace.specDir}/data-model.md`;
      if (!(await exists(input.workspace.path, planPath))) {
        await writeText(input.workspace.path, planPath, planScaffold({ branch: input.workspace.branch, feature: input.feature, date: today(), services: input.services }));
        await writeText(input.workspace.path, dataModelPath, dataModelScaffold({ feature: input.feature }));
        await commitPaths(input.workspace, [planPath, dataModelPath], `plan: scaffold ${input.workspace.branch}\n\nRun ${input.runId}.`, input.repository.remote);
      }
      return {
        instructions: personInstructions(
          input,
          `Write the plan: the approach, integration points and decisions, and list the affected services in rollout order in the \`slipway-services\` block (choose among ${input.services.join(', ')}).`,
          [planPath, dataModelPath],
        ),
      };
    },

    /** A person's plan, read back: the services block names configured services. */
    async checkPlan(input: InWorkspace & { services: string[] }): Promise<PersonCheck & { plan?: PlanResult }> {
      const planPath = `${input.workspace.specDir}/plan.md`;
      const { text, problems } = await readBack(input, planPath);
      if (text === undefined) return { ok: false, problems };
      const planned = plannedServicesOf(text, input.services);
      if (planned.problems.length > 0) return { ok: false, problems: planned.problems };
      return {
        ok: true,
        problems: [],
        plan: {
          planPath,
          dataModelPath: `${input.workspace.specDir}/data-model.md`,
          services: planned.services.map((s) => s.name),
          integrations: Object.fromEntries(planned.services.map((s) => [s.name, s.integrations])),
          summary: `plan by a person: ${planned.services.map((s) => `${s.name} (${s.integrations.join(', ') || 'code'})`).join(', ')}`,
          usage: emptyUsage(),
        },
      };
    },

    async writeTasks(input: InWorkspace & Budgeted & { llm?: LlmSettings }): Promise<TasksResult> {
      const call = requireLlm(input, 'writeTasks', 'task planner');
      const { result, usage } = await runRole(taskPlanner(input.workspace.path, input.workspace.specDir), `Write the tasks for ${input.workspace.branch}.`, call, [], `tasks: ${input.workspace.branch}`);
      return { tasksPath: `${input.workspace.specDir}/tasks.md`, taskCount: result.taskCount, usage };
    },

    async scaffoldTasks(input: InWorkspace & { feature: string }): Promise<{ instructions: string }> {
      const tasksPath = `${input.workspace.specDir}/tasks.md`;
      if (!(await exists(input.workspace.path, tasksPath))) {
        await writeText(input.workspace.path, tasksPath, tasksScaffold({ branch: input.workspace.branch, feature: input.feature }));
        await commitPaths(input.workspace, [tasksPath], `tasks: scaffold ${input.workspace.branch}\n\nRun ${input.runId}.`, input.repository.remote);
      }
      return { instructions: personInstructions(input, 'Write the dependency-ordered task list, one `- [ ] T001 …` line per task.', [tasksPath]) };
    },

    async checkTasks(input: InWorkspace): Promise<PersonCheck & { tasks?: TasksResult }> {
      const tasksPath = `${input.workspace.specDir}/tasks.md`;
      const { text, problems } = await readBack(input, tasksPath);
      if (text === undefined) return { ok: false, problems };
      const taskCount = taskCountOf(text);
      if (taskCount === 0) return { ok: false, problems: ['tasks.md has no task lines of the form `- [ ] T001 …`'] };
      return { ok: true, problems: [], tasks: { tasksPath, taskCount, usage: emptyUsage() } };
    },

    /** Instructions for the person who implements: which services, on which branch, checked by each service's tests. */
    async scaffoldImplementation(input: InWorkspace & { services: ServiceSettings[] }): Promise<{ instructions: string }> {
      const tasks = `${input.workspace.specDir}/tasks.md`;
      const lines = input.services.map((s) => `- ${s.name} (\`${s.path}\`): tests \`${s.commands.test ?? 'none configured'}\`${s.database ? `; migrations in \`${s.path}/${s.database.migrationsDir}\`` : ''}`);
      return { instructions: personInstructions(input, `Implement the tasks of ${tasks} with their tests:\n${lines.join('\n')}`, input.services.map((s) => s.path)) };
    },

    /** Pulls what a person pushed for the implementation (the tests are then run by a command activity). */
    async pullImplementation(input: InWorkspace): Promise<PersonCheck> {
      const sync = await syncWorkspace(input.workspace, input.repository.remote);
      return sync.problem !== undefined ? { ok: false, problems: [sync.problem] } : { ok: true, problems: [] };
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

    /** The docs writer agent; without an `llm` section Slipway writes the runbook from what the run knows. */
    async writeDocs(input: InWorkspace & Budgeted & { feature: string; services: string[]; llm?: LlmSettings }): Promise<DocsResult> {
      if (input.llm !== undefined) {
        const { result, usage } = await runRole(docsWriter(input.workspace.path, input.workspace.specDir), `Document "${input.feature}".`, { ...input, llm: input.llm }, [], `docs: ${input.workspace.branch}`);
        return { paths: result.paths, usage };
      }
      const runbook = `${input.workspace.specDir}/runbook.md`;
      await writeText(
        input.workspace.path,
        runbook,
        `# Runbook: ${input.feature}\n\nBranch \`${input.workspace.branch}\`, delivered by Slipway run \`${input.runId}\` to ${input.services.join(', ')}.\n\n## Monitoring\n\n- Alerts: \`${input.workspace.specDir}/observability/alerts.yaml\`\n- Dashboard: \`${input.workspace.specDir}/observability/dashboard.json\`\n\n## Rollback\n\nSee the rollback plan in \`${input.workspace.specDir}/report.md\`.\n`,
      );
      await commitPaths(input.workspace, [runbook], `docs: runbook for ${input.workspace.branch}\n\nRun ${input.runId}.`, input.repository.remote);
      return { paths: [runbook], usage: emptyUsage() };
    },
  };
}
export type AgentActivities = ReturnType<typeof createAgentActivities>;
