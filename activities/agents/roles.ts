/** The agents' roles: what each is told, what it must hand back, and what is checked before it is accepted. */
import { z } from 'zod';
import { readWorktreeFile } from '../sandbox/worktreeFs';
import type { Role } from './runtime';
import { planServiceSchema } from './scaffolds';
import { checkResultPaths } from './tools';

const EDIT_TOOLS = ['view', 'create_file', 'str_replace', 'insert', 'search'] as const;

/** Paths that are not regular files inside the worktree (missing, a symlink, outside, in .git), each with why. */
const refused = (root: string, paths: string[]) => checkResultPaths(root, paths);
/** Reads a file the agent wrote: through no symlink, never more than a megabyte. */
const readResult = (root: string, path: string) => readWorktreeFile(root, path, 1024 * 1024);

/** The reviewer's comments from rejected rounds, for a revising agent's prompt; empty on the first round. */
export function reviewerComments(what: string, comments: string[]): string {
  if (comments.length === 0) return '';
  return `\n\nThe reviewer rejected the previous ${what}. Address every comment:\n${comments.map((c, i) => `${i + 1}. ${c}`).join('\n')}`;
}

export const specResult = z.object({
  summary: z.string().min(1).max(2000).describe('What the spec says, for the reviewer at the spec gate'),
  clarifications: z.array(z.string().min(1)).max(3).describe('Open [NEEDS CLARIFICATION] questions, at most three'),
});

export function specWriter(root: string, specDir: string): Role<z.infer<typeof specResult>> {
  const spec = `${specDir}/spec.md`;
  const checklist = `${specDir}/checklists/requirements.md`;
  return {
    name: 'spec writer',
    tools: [...EDIT_TOOLS],
    result: specResult,
    system: [
      'You write feature specifications in GitHub spec-kit format for a team of engineers and product people.',
      `Write ${spec}: user stories with priorities (P1, P2, …), each with an independent test and Given/When/Then acceptance scenarios;`,
      'edge cases; functional requirements numbered FR-001…; measurable, technology-agnostic success criteria numbered SC-001…; assumptions.',
      'Describe WHAT users need and WHY, never HOW (no languages, frameworks or APIs).',
      'Mark at most three genuinely open questions as [NEEDS CLARIFICATION: question]; make informed guesses for the rest and list them as assumptions.',
      `Then write ${checklist}, the specification quality checklist, with each item checked only if the spec meets it.`,
      'Read the repository first (view, search) to use its vocabulary. When reviewer comments are given, revise the existing spec to address every one.',
      'Finish by calling submit_result with a short summary and the open clarifications.',
    ].join('\n'),
    accept: async (result) => {
      const absent = await refused(root, [spec, checklist]);
      if (absent.length > 0) return `not done yet: create ${spec} and ${checklist} first (${absent.join('; ')})`;
      const markers = (await readResult(root, spec)).match(/\[NEEDS CLARIFICATION/g)?.length ?? 0;
      if (markers > 3) return `${spec} has ${markers} [NEEDS CLARIFICATION] markers; keep at most three and decide the rest as assumptions`;
      if (markers !== result.clarifications.length) return `${spec} has ${markers} [NEEDS CLARIFICATION] markers but the result lists ${result.clarifications.length} clarifications`;
      return undefined;
    },
  };
}

export const planResult = z.object({
  summary: z.string().min(1).max(2000),
  services: z
    .array(planServiceSchema.extend({ notes: z.string().max(1000).optional() }))
    .min(1)
    .describe('Affected services, in the order they should roll out, and how each is touched'),
});

export function architect(root: string, specDir: string, services: string[]): Role<z.infer<typeof planResult>> {
  return {
    name: 'architect',
    tools: [...EDIT_TOOLS],
    result: planResult,
    system: [
      'You are the architect of a microservice system. From the approved spec, write the implementation plan in spec-kit format.',
      `Write ${specDir}/plan.md (technical context, affected services, gRPC/event/database/cache changes, data flow, decisions with their rationale and alternatives),`,
      `${specDir}/data-model.md (entities, fields, relations, state transitions) and contracts under ${specDir}/contracts/ (proto or event schemas).`,
      `The services that exist: ${services.join(', ')}. Change only those. gRPC changes must stay backward compatible.`,
      'Finish by calling submit_result with the affected services in rollout order (dependencies first) and how each is touched.',
    ].join('\n'),
    accept: async (result) => {
      const absent = await refused(root, [`${specDir}/plan.md`, `${specDir}/data-model.md`]);
      if (absent.length > 0) return `not done yet: create ${specDir}/plan.md and ${specDir}/data-model.md first (${absent.join('; ')})`;
      const unknown = result.services.map((s) => s.name).filter((name) => !services.includes(name));
      if (unknown.length > 0) return `unknown services ${unknown.join(', ')}: choose among ${services.join(', ')}`;
      return undefined;
    },
  };
}

export const tasksResult = z.object({ taskCount: z.number().int().positive() });

export function taskPlanner(root: string, specDir: string): Role<z.infer<typeof tasksResult>> {
  const tasks = `${specDir}/tasks.md`;
  return {
    name: 'task planner',
    tools: [...EDIT_TOOLS],
    result: tasksResult,
    system: [
      'From spec.md, plan.md, data-model.md and contracts/, write a dependency-ordered task list in spec-kit format.',
      `Write ${tasks}: phases (Setup, Foundational, one per user story in priority order, Polish), each task one line:`,
      '"- [ ] T001 [P] [US1] description with the exact file path" — [P] only when it can run in parallel (different files, no dependency), [USn] for story tasks.',
      'End with a dependencies section. Finish by calling submit_result with the number of tasks.',
    ].join('\n'),
    accept: async (result) => {
      const absent = await refused(root, [tasks]);
      if (absent.length > 0) return `not done yet: create ${tasks} first (${absent.join('; ')})`;
      const count = (await readResult(root, tasks)).match(/^- \[[ X]\] T\d{3}\b/gm)?.length ?? 0;
      if (count === 0) return `${tasks} has no task lines of the form "- [ ] T001 …"`;
      if (count !== result.taskCount) return `${tasks} has ${count} tasks but the result says ${result.taskCount}`;
      return undefined;
    },
  };
}

export const implementResult = z.object({
  summary: z.string().min(1).max(2000),
  testsPassed: z.boolean().describe("Whether the service's tests passed at the end"),
});

export type ServiceRoleKind = 'grpc' | 'events' | 'implement';

const SERVICE_ROLES: Record<ServiceRoleKind, { name: string; brief: string[] }> = {
  grpc: {
    name: 'gRPC builder',
    brief: [
      'Make the gRPC changes the plan and contracts/ call for: proto changes that stay backward compatible (add fields and methods, never renumber or remove),',
      'regenerate code if the service does so, write the server handler, the client used by callers, and tests for both.',
    ],
  },
  events: {
    name: 'event integrator',
    brief: [
      'Make the event changes the plan calls for: producers write to an outbox table in the same transaction as the change and a relay publishes it;',
      'consumers are idempotent (deduplicate by event id) and send poison messages to a dead-letter queue after bounded retries; test both sides.',
    ],
  },
  implement: {
    name: 'implementer',
    brief: ['Work through the remaining tasks in tasks.md for this service.'],
  },
};

export const serviceRoleName = (kind: ServiceRoleKind): string => SERVICE_ROLES[kind].name;

/** The per-service roles: gRPC builder, event integrator, implementer. They commit per task and must leave the tests passing. */
export function serviceRole(kind: ServiceRoleKind, service: { name: string; path: string; commands: string[] }, specDir: string): Role<z.infer<typeof implementResult>> {
  const role = SERVICE_ROLES[kind];
  return {
    name: `${role.name} of ${service.name}`,
    tools: [...EDIT_TOOLS, 'run_command', 'commit'],
    result: implementResult,
    system: [
      `You are the ${role.name} for the service ${service.name} (under ${service.path}), delivering the feature planned in ${specDir}.`,
      ...role.brief,
      `For each task of ${specDir}/tasks.md you complete, mark it "- [X]" and commit with the task id in the message.`,
      `Run the service's tests with run_command (${service.commands.join(' | ') || 'no commands configured'}) and fix failures before you finish.`,
      'Finish by calling submit_result with a summary and whether the tests passed.',
    ].join('\n'),
  };
}

export const docsResult = z.object({ paths: z.array(z.string().min(1)).min(1) });

export function docsWriter(root: string, specDir: string): Role<z.infer<typeof docsResult>> {
  return {
    name: 'docs writer',
    tools: [...EDIT_TOOLS],
    result: docsResult,
    system: [
      'Document the delivered feature for the people who will run and use it.',
      `Update the README where the feature changes how things are used, write ${specDir}/runbook.md (what to watch, alerts and what to do, how to roll back),`,
      `and API docs for new endpoints or gRPC methods under ${specDir}/docs/.`,
      'Finish by calling submit_result with the paths you wrote.',
    ].join('\n'),
    accept: async (result) => {
      const absent = await refused(root, result.paths);
      return absent.length > 0 ? `these paths are not files in the repository: ${absent.join('; ')}` : undefined;
    },
  };
}

export const migrationResult = z.object({ files: z.array(z.string().min(1)).min(2).describe('The up and down files written, relative to the repository root') });

export function migrationWriter(root: string, service: { name: string; dir: string; up: string; down: string }, specDir: string): Role<z.infer<typeof migrationResult>> {
  return {
    name: `migration writer of ${service.name}`,
    tools: [...EDIT_TOOLS],
    result: migrationResult,
    system: [
      `You write PostgreSQL migrations for the service ${service.name}, for the change described in ${specDir}/plan.md and data-model.md.`,
      `Write each migration as a pair in ${service.dir}: "${service.up}" and "${service.down}", where {version} is a 14-digit UTC timestamp and {name} snake_case.`,
      'Every migration must be reversible: the down file undoes exactly what the up file does.',
      'Prefer changes that do not lock busy tables: add columns nullable or with a constant default, create indexes CONCURRENTLY in a file of their own',
      'that starts with the line "-- no-transaction", add constraints NOT VALID and validate them separately, and set lock_timeout and statement_timeout.',
      'When reviewer comments are given, revise the migrations to address each one. Finish by calling submit_result with the files you wrote.',
    ].join('\n'),
    accept: async (result) => {
      const absent = await refused(root, result.files);
      return absent.length > 0 ? `these files are not files in the repository: ${absent.join('; ')}` : undefined;
    },
  };
}

export const manifestResult = z.object({ paths: z.array(z.string().min(1)).min(1).describe('The manifest files, relative to the repository root') });

export function manifestWriter(root: string, specDir: string, paths: string[]): Role<z.infer<typeof manifestResult>> {
  return {
    name: 'manifest writer',
    tools: [...EDIT_TOOLS],
    result: manifestResult,
    system: [
      `You adapt the Kubernetes manifests of this delivery to what ${specDir}/plan.md asks of each service.`,
      `The files ${paths.join(', ')} hold, per environment and service, a Deployment, Service, ConfigMap, HorizontalPodAutoscaler and PodDisruptionBudget from Slipway's template.`,
      'Keep every object, its name, namespace and labels (slipway.dev/run, slipway.dev/feature); keep resource requests and limits and readiness/liveness probes on every container.',
      'Add what the plan needs (environment variables, ports, config entries). Keep each file valid multi-document YAML.',
      'When reviewer comments are given, address every one. Finish by calling submit_result with the paths.',
    ].join('\n'),
    accept: async (result) => {
      const absent = await refused(root, result.paths);
      if (absent.length > 0) return `these paths are not files in the repository: ${absent.join('; ')}`;
      const dropped = paths.filter((p) => !result.paths.includes(p));
      return dropped.length > 0 ? `every manifest file must stay: ${dropped.join(', ')} missing from the result` : undefined;
    },
  };
}
