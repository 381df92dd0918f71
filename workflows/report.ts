/**
 * The summary report at the end of every run (delivered, failed or rolled back): a pure function of
 * the run's state, the settings it ran with, and the facts the writeReport activity gathered from the
 * worktree (git diff, .proto diff, coverage files). The workflow, the activity (Markdown on the
 * branch), the API (JSON) and the CLI all use it; nothing here touches Node or the clock.
 */
import { z } from 'zod';
import type { RunSettings, ServiceSettings } from '../config/settings';
import { deploymentUndoName, migrationsUndoName } from './compensationNames';
import { auditRecordSchema, clip, compensationRecordSchema, LIMITS, runStatusSchema, tokenUsageSchema, type RunState } from './state';

// ---------------------------------------------------------------------------------------------
// Facts: what the activity found in the worktree. Bounded: every list is cut at LIMITS and counted.

export const changedFileSchema = z.object({
  path: z.string(),
  change: z.enum(['added', 'modified', 'deleted', 'renamed']),
});
export type ChangedFile = z.infer<typeof changedFileSchema>;

/** One RPC the branch adds, changes (request, response or streaming) or removes, compared with the base. */
export const grpcChangeSchema = z.object({
  /** Fully qualified proto service, e.g. messages.v1.Messages. */
  service: z.string(),
  method: z.string(),
  change: z.enum(['added', 'changed', 'removed']),
  /** `rpc Send(SendRequest) returns (stream SendReply)` as on the branch (as on the base when removed). */
  signature: z.string(),
  /** The base's signature, for a changed method. */
  was: z.string().optional(),
});
export type GrpcChange = z.infer<typeof grpcChangeSchema>;

export const coverageSchema = z.object({
  /** Covered lines (Istanbul, lcov) or statements (go) over all, in percent. */
  percent: z.number(),
  format: z.enum(['istanbul', 'lcov', 'go']),
  /** The file it was read from, relative to the worktree. */
  source: z.string(),
});
export type Coverage = z.infer<typeof coverageSchema>;

/** What a service's `perf` command left behind: its regression against its baseline. */
export const performanceSchema = z.object({
  /** Positive is slower than the baseline. */
  regressionPercent: z.number(),
  baseline: z.string().optional(),
  source: z.string(),
});
export type Performance = z.infer<typeof performanceSchema>;

export const migrationFileSchema = z.object({
  version: z.string(),
  name: z.string(),
  up: z.string(),
  down: z.string().optional(),
  /** sqlx's `-- no-transaction` files cannot be reverted inside one transaction. */
  transactional: z.boolean(),
});
export type MigrationFileFact = z.infer<typeof migrationFileSchema>;

export const serviceFactsSchema = z.object({
  service: z.string(),
  files: z.array(changedFileSchema),
  /** Files changed in all, listed or not. */
  filesTotal: z.number().int(),
  protoFiles: z.array(z.string()),
  grpc: z.array(grpcChangeSchema),
  grpcTotal: z.number().int(),
  /** Event types the plan's services block says the service produces and consumes. */
  events: z.object({ produces: z.array(z.string()), consumes: z.array(z.string()) }),
  /** Migrations the branch adds. */
  migrations: z.array(migrationFileSchema),
  coverage: coverageSchema.optional(),
  performance: performanceSchema.optional(),
  /** The production manifest's OTLP endpoint, when the service exports traces. */
  tracing: z.object({ endpoint: z.string(), source: z.string() }).optional(),
  /** What could not be read (an unparsable .proto, a malformed coverage file). */
  problems: z.array(z.string()),
});
export type ServiceFacts = z.infer<typeof serviceFactsSchema>;

export const reportFactsSchema = z.object({
  /** The merge base with the base branch, and the branch's commit the facts describe. */
  baseCommit: z.string(),
  headCommit: z.string(),
  services: z.array(serviceFactsSchema),
  /** Files changed outside every service's folder (specs, shared code). */
  otherFiles: z.array(changedFileSchema),
  otherFilesTotal: z.number().int(),
  /** Documentation the branch adds or changes: Markdown anywhere, and anything under docs/. */
  docs: z.array(changedFileSchema),
  docsTotal: z.number().int(),
  observability: z.object({
    dashboard: z.object({ path: z.string(), uid: z.string().optional(), title: z.string().optional() }).optional(),
    alertsPath: z.string().optional(),
    alerts: z.array(z.string()),
    alertsTotal: z.number().int(),
  }),
  /** How the worker ran commands from the branch. */
  sandbox: z.enum(['bubblewrap', 'none']),
  problems: z.array(z.string()),
});
export type ReportFacts = z.infer<typeof reportFactsSchema>;

// ---------------------------------------------------------------------------------------------
// The report.

const stepStateSchema = z.enum(['in-place', 'undone', 'undo-failed']);

export const runReportSchema = z.object({
  runId: z.string(),
  feature: z.string(),
  requester: z.string(),
  status: runStatusSchema,
  reason: z.string().optional(),
  branch: z.string().optional(),
  services: z.array(z.string()),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  /** False while the run goes on: the report says where it stands so far. */
  final: z.boolean(),
  /** False until the run's end gathers them: files, gRPC methods, coverage are then unknown. */
  factsGathered: z.boolean(),
  baseCommit: z.string().optional(),
  headCommit: z.string().optional(),
  sandbox: z.enum(['bubblewrap', 'none']).optional(),
  servicesModified: z.array(
    z.object({
      service: z.string(),
      /** From the plan: grpc, events, schema, cache, analytics (absent: the run did not record them). */
      integrations: z.array(z.string()).optional(),
      files: z.array(changedFileSchema),
      filesTotal: z.number().int(),
      protoFiles: z.array(z.string()),
      grpc: z.array(grpcChangeSchema),
      grpcTotal: z.number().int(),
      events: z.object({ produces: z.array(z.string()), consumes: z.array(z.string()) }),
      /** `<version>_<name>` of each migration the branch adds. */
      migrations: z.array(z.string()),
      problems: z.array(z.string()),
    }),
  ),
  otherFiles: z.object({ files: z.array(changedFileSchema), total: z.number().int() }),
  migrations: z.array(
    z.object({
      service: z.string(),
      environment: z.string(),
      /** The variable holding the database's URL in that environment. */
      database: z.string(),
      versions: z.array(z.string()),
      state: stepStateSchema,
    }),
  ),
  deployments: z.array(
    z.object({
      environment: z.string(),
      service: z.string(),
      /** The rollout's result. */
      result: z.enum(['running', 'succeeded', 'failed', 'inconclusive']),
      deployment: z.string().optional(),
      namespace: z.string().optional(),
      image: z.string().optional(),
      digest: z.string().optional(),
      at: z.string().optional(),
      revision: z.number().int().optional(),
      previousRevision: z.number().int().optional(),
      /** `passed, 6/6 samples`, or why the soak failed. */
      soak: z.string().optional(),
      reason: z.string().optional(),
      state: stepStateSchema.optional(),
    }),
  ),
  observability: z.object({
    /** Whether the observability phase wrote its files. */
    written: z.boolean(),
    dashboard: z.object({ path: z.string(), uid: z.string().optional(), title: z.string().optional(), url: z.string().optional() }).optional(),
    grafanaUrl: z.string().optional(),
    alertsPath: z.string().optional(),
    alerts: z.array(z.string()),
    alertsTotal: z.number().int(),
    tracing: z.array(z.object({ service: z.string(), endpoint: z.string().optional() })),
  }),
  documentation: z.object({ files: z.array(z.object({ path: z.string(), change: z.string() })), total: z.number().int() }),
  quality: z.array(
    z.object({
      service: z.string(),
      coverage: coverageSchema.optional(),
      performance: performanceSchema.optional(),
      /** The production soak: its samples, decision, and the error ratio and P99 of its last sample. */
      production: z
        .object({
          environment: z.string(),
          decision: z.string(),
          samples: z.number().int(),
          planned: z.number().int(),
          errorRatio: z.number().optional(),
          p99Seconds: z.number().optional(),
          at: z.string().optional(),
        })
        .optional(),
      sloErrorRatio: z.number(),
      sloP99Seconds: z.number(),
    }),
  ),
  monitoring: z.object({
    configured: z.boolean(),
    durationMs: z.number().optional(),
    intervalMs: z.number().optional(),
    watches: z.array(
      z.object({
        service: z.string(),
        environment: z.string(),
        status: z.string(),
        samples: z.number().int(),
        planned: z.number().int(),
        failing: z.number().int(),
        endsAt: z.string().optional(),
        last: z.string().optional(),
        reason: z.string().optional(),
      }),
    ),
  }),
  rollback: z.object({
    /** What undoes whatever of this run is still in place, newest first: the steps `slipway rollback` runs for a delivered run, as commands a person can run by hand. */
    steps: z.array(
      z.object({
        service: z.string(),
        environment: z.string(),
        kind: z.enum(['deployment', 'migrations']),
        state: stepStateSchema,
        commands: z.array(z.string()),
        note: z.string().optional(),
      }),
    ),
  }),
  approvals: z.array(auditRecordSchema),
  compensations: z.array(compensationRecordSchema),
  cost: tokenUsageSchema,
  /** The latest events; the whole timeline is in GET /runs/:id. */
  timeline: z.array(z.object({ at: z.string(), phase: z.string(), event: z.string(), detail: z.string().optional() })),
  timelineOmitted: z.number().int(),
});
export type RunReport = z.infer<typeof runReportSchema>;

/** What the report needs from the run's settings (no secrets: variable names only). */
export type ReportSettings = Pick<RunSettings, 'services' | 'environments' | 'watch' | 'observability'>;

export function reportSettingsOf(settings: RunSettings): ReportSettings {
  return {
    services: settings.services,
    environments: settings.environments,
    ...(settings.watch !== undefined ? { watch: settings.watch } : {}),
    ...(settings.observability !== undefined ? { observability: settings.observability } : {}),
  };
}

/** Where Slipway's migration runner records applied versions (activities/migrations/runner.ts; a unit test keeps them equal). */
export const MIGRATIONS_RECORD_TABLE = 'slipway_schema_migrations';

// ---------------------------------------------------------------------------------------------

const DOC_ARTIFACTS = new Set(['spec', 'checklist', 'plan', 'data-model', 'tasks', 'doc']);

/** A shell word: plain words stay as they are, anything else in single quotes. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const digestOf = (image: string | undefined): string | undefined => (image?.includes('@') ? image.slice(image.indexOf('@') + 1) : undefined);

function databaseVariable(service: ServiceSettings | undefined, environment: string): string {
  const database = service?.database;
  if (database === undefined) return '?';
  return database.urlEnvByEnvironment[environment] ?? database.urlEnv;
}

/** The report of a run as it stands; `facts` are absent until the run's end gathers them. */
export function buildReport(state: RunState, facts: ReportFacts | undefined, settings: ReportSettings): RunReport {
  const serviceSettings = new Map(settings.services.map((s) => [s.name, s]));
  const environmentSettings = new Map(settings.environments.map((e) => [e.name, e]));
  const factsOf = new Map((facts?.services ?? []).map((s) => [s.service, s]));
  const compensation = new Map(state.compensations.map((c) => [c.name, c]));
  const stateOf = (name: string): z.infer<typeof stepStateSchema> => {
    const record = compensation.get(name);
    return record?.status === 'done' ? 'undone' : record?.status === 'failed' ? 'undo-failed' : 'in-place';
  };
  const final = ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(state.status);
  const serviceNames = [...new Set([...state.services, ...(facts?.services ?? []).map((s) => s.service)])];

  const servicesModified = serviceNames.map((service) => {
    const found = factsOf.get(service);
    return {
      service,
      ...(state.integrations !== undefined ? { integrations: state.integrations[service] ?? [] } : {}),
      files: found?.files ?? [],
      filesTotal: found?.filesTotal ?? 0,
      protoFiles: found?.protoFiles ?? [],
      grpc: found?.grpc ?? [],
      grpcTotal: found?.grpcTotal ?? 0,
      events: found?.events ?? { produces: [], consumes: [] },
      migrations: (found?.migrations ?? []).map((m) => `${m.version}_${m.name}`),
      problems: found?.problems ?? [],
    };
  });

  const migrations = state.rollouts
    .filter((r) => r.migrations.length > 0)
    .map((r) => ({
      service: r.service,
      environment: r.environment,
      database: databaseVariable(serviceSettings.get(r.service), r.environment),
      versions: r.migrations,
      state: stateOf(migrationsUndoName(r.migrations, r.service, r.environment)),
    }));

  const images = new Map(state.images.map((i) => [i.service, i]));
  const deployments = state.rollouts.map((r) => {
    const d = r.deployment;
    const image = d?.image ?? images.get(r.service)?.reference;
    const digest = digestOf(d?.image) ?? images.get(r.service)?.digest;
    return {
      environment: r.environment,
      service: r.service,
      result: r.status,
      ...(d !== undefined ? { deployment: d.deployment, namespace: d.namespace, revision: d.revision } : {}),
      ...(d?.previousRevision !== undefined ? { previousRevision: d.previousRevision } : {}),
      ...(image !== undefined ? { image } : {}),
      ...(digest !== undefined ? { digest } : {}),
      ...(d?.at !== undefined ? { at: d.at } : {}),
      ...(r.soak !== undefined ? { soak: `${r.soak.decision}, ${r.soak.samples}/${r.soak.planned} samples${r.soak.decision === 'failed' && r.soak.last ? `: ${r.soak.last.detail}` : ''}` } : {}),
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(d !== undefined ? { state: stateOf(deploymentUndoName(r.service, r.environment)) } : {}),
    };
  });

  const observability = observabilityOf(state, facts, settings);
  const documentation = documentationOf(state, facts);

  const production = settings.environments.at(-1)?.name;
  const quality = serviceNames.map((service) => {
    const found = factsOf.get(service);
    const soaked = state.rollouts.filter((r) => r.service === service && r.environment === production && r.soak !== undefined).at(-1);
    const slo = serviceSettings.get(service)?.slo;
    return {
      service,
      ...(found?.coverage !== undefined ? { coverage: found.coverage } : {}),
      ...(found?.performance !== undefined ? { performance: found.performance } : {}),
      ...(soaked?.soak !== undefined
        ? {
            production: {
              environment: soaked.environment,
              decision: soaked.soak.decision,
              samples: soaked.soak.samples,
              planned: soaked.soak.planned,
              ...(soaked.soak.last?.errorRatio !== undefined ? { errorRatio: soaked.soak.last.errorRatio } : {}),
              ...(soaked.soak.last?.p99Seconds !== undefined ? { p99Seconds: soaked.soak.last.p99Seconds } : {}),
              ...(soaked.soak.last !== undefined ? { at: soaked.soak.last.at } : {}),
            },
          }
        : {}),
      sloErrorRatio: slo?.errorRatio ?? 0.05,
      sloP99Seconds: slo?.p99Seconds ?? 1,
    };
  });

  const monitoring = {
    configured: settings.watch !== undefined,
    ...(settings.watch !== undefined ? { durationMs: settings.watch.duration, intervalMs: settings.watch.interval } : {}),
    watches: state.watches.map((w) => ({
      service: w.service,
      environment: w.environment,
      status: w.status,
      samples: w.analysis.samples,
      planned: w.analysis.planned,
      failing: w.analysis.failing,
      ...(w.analysis.endsAt !== undefined ? { endsAt: w.analysis.endsAt } : {}),
      ...(w.analysis.last !== undefined ? { last: clip(w.analysis.last.detail, 300) } : {}),
      ...(w.reason !== undefined ? { reason: w.reason } : {}),
    })),
  };

  const steps: RunReport['rollback']['steps'] = [];
  // Newest first, as the saga undoes: within one rollout the deployment goes back before its migrations.
  for (const rollout of [...state.rollouts].reverse()) {
    const environment = environmentSettings.get(rollout.environment);
    const context = environment?.kubeContext !== undefined ? ['--context', environment.kubeContext] : [];
    const d = rollout.deployment;
    if (d !== undefined) {
      const kubectl = ['kubectl', ...context, '-n', d.namespace];
      const undo =
        d.previousRevision !== undefined
          ? [...kubectl, 'rollout', 'undo', `deployment/${d.deployment}`, `--to-revision=${d.previousRevision}`]
          : [...kubectl, 'delete', `deployment/${d.deployment}`];
      steps.push({
        service: rollout.service,
        environment: rollout.environment,
        kind: 'deployment',
        state: stateOf(deploymentUndoName(rollout.service, rollout.environment)),
        commands: [undo.map(shellWord).join(' '), [...kubectl, 'rollout', 'status', `deployment/${d.deployment}`].map(shellWord).join(' ')],
        note:
          d.previousRevision !== undefined
            ? `revision ${d.revision} back to ${d.previousRevision}${d.previousImage ? ` (${d.previousImage})` : ''}`
            : `revision ${d.revision}; the run created the Deployment, so undoing it deletes it`,
      });
    }
    if (rollout.migrations.length > 0) {
      const service = serviceSettings.get(rollout.service);
      const variable = databaseVariable(service, rollout.environment);
      const files = new Map((factsOf.get(rollout.service)?.migrations ?? []).map((m) => [m.version, m]));
      const commands = [...rollout.migrations].reverse().map((version) => migrationDownCommand(variable, version, files.get(version), service));
      const outside = rollout.migrations.filter((v) => files.get(v)?.transactional === false);
      steps.push({
        service: rollout.service,
        environment: rollout.environment,
        kind: 'migrations',
        state: stateOf(migrationsUndoName(rollout.migrations, rollout.service, rollout.environment)),
        commands,
        note: `versions ${rollout.migrations.join(', ')}, newest first, from a checkout of the branch${outside.length > 0 ? `; ${outside.join(', ')} cannot run in a transaction, so each statement commits on its own` : ''}`,
      });
    }
  }

  const timeline = state.timeline.slice(-LIMITS.reportTimeline).map((e) => ({
    at: e.at,
    phase: e.phase,
    event: e.event,
    ...(e.detail !== undefined ? { detail: clip(e.detail.split('\n')[0] ?? '', 200) } : {}),
  }));

  return {
    runId: state.runId,
    feature: state.feature,
    requester: state.requester,
    status: state.status,
    ...(state.reason !== undefined ? { reason: state.reason } : {}),
    ...(state.workspace !== undefined ? { branch: state.workspace.branch } : {}),
    services: state.services,
    startedAt: state.startedAt,
    ...(state.endedAt !== undefined ? { endedAt: state.endedAt } : {}),
    final,
    factsGathered: facts !== undefined,
    ...(facts !== undefined ? { baseCommit: facts.baseCommit, headCommit: facts.headCommit, sandbox: facts.sandbox } : {}),
    servicesModified,
    otherFiles: { files: facts?.otherFiles ?? [], total: facts?.otherFilesTotal ?? 0 },
    migrations,
    deployments,
    observability,
    documentation,
    quality,
    monitoring,
    rollback: { steps },
    approvals: state.approvals,
    compensations: state.compensations,
    cost: state.cost.total,
    timeline,
    timelineOmitted: state.timelineDropped + Math.max(0, state.timeline.length - timeline.length),
  };
}

/**
 * The down migration by hand, as Slipway's runner does it: the down file and the removal of its
 * record in one transaction (psql runs -f and -c in order), unless the file is `-- no-transaction`.
 */
function migrationDownCommand(variable: string, version: string, file: MigrationFileFact | undefined, service: ServiceSettings | undefined): string {
  if (file !== undefined && file.down === undefined) return `# ${version} has no down migration: it cannot be reverted`;
  const database = service?.database;
  // Without the file's name (facts not gathered), the layout's pattern: a shell glob matching the one down file.
  const downFile =
    file?.down !== undefined
      ? shellWord(file.down)
      : service !== undefined && database !== undefined
        ? `${service.path}/${database.migrationsDir}/${database.layout.down.replace('{version}', version).replace('{name}', '*')}`
        : `'<the down file of ${version}>'`;
  const transactional = file?.transactional ?? true;
  const words = ['psql', `"$${variable}"`, '-v', 'ON_ERROR_STOP=1', ...(transactional ? ['--single-transaction'] : []), '-f', downFile];
  const forget = `DELETE FROM ${MIGRATIONS_RECORD_TABLE} WHERE version = '${version}'`;
  // Versions are digits (the layout's {version}), so double quotes need no escaping; anything else is quoted safely.
  return `${words.join(' ')} -c ${/^\d+$/.test(version) ? `"${forget}"` : shellWord(forget)}`;
}

function observabilityOf(state: RunState, facts: ReportFacts | undefined, settings: ReportSettings): RunReport['observability'] {
  const written = state.artifacts.some((a) => a.phase === 'observability') || facts?.observability.dashboard !== undefined;
  const dashboardPath = facts?.observability.dashboard?.path ?? state.artifacts.find((a) => a.phase === 'observability' && a.path.endsWith('/dashboard.json'))?.path;
  const grafana = settings.observability?.grafanaUrl?.replace(/\/+$/, '');
  const uid = facts?.observability.dashboard?.uid;
  const tracing = (facts?.services ?? []).map((s) => ({ service: s.service, ...(s.tracing !== undefined ? { endpoint: s.tracing.endpoint } : {}) }));
  return {
    written,
    ...(dashboardPath !== undefined
      ? {
          dashboard: {
            path: dashboardPath,
            ...(uid !== undefined ? { uid } : {}),
            ...(facts?.observability.dashboard?.title !== undefined ? { title: facts.observability.dashboard.title } : {}),
            ...(grafana !== undefined && uid !== undefined ? { url: `${grafana}/d/${encodeURIComponent(uid)}` } : {}),
          },
        }
      : {}),
    ...(grafana !== undefined ? { grafanaUrl: grafana } : {}),
    ...(facts?.observability.alertsPath !== undefined ? { alertsPath: facts.observability.alertsPath } : {}),
    alerts: facts?.observability.alerts ?? [],
    alertsTotal: facts?.observability.alertsTotal ?? 0,
    tracing,
  };
}

/** Documentation the branch changed (from git), and what the run wrote as documents (spec, plan, runbook). */
function documentationOf(state: RunState, facts: ReportFacts | undefined): RunReport['documentation'] {
  const files: { path: string; change: string }[] = (facts?.docs ?? []).map((d) => ({ path: d.path, change: d.change }));
  let total = facts?.docsTotal ?? 0;
  for (const artifact of state.artifacts) {
    if (!DOC_ARTIFACTS.has(artifact.kind) || files.some((f) => f.path === artifact.path)) continue;
    total++;
    if (files.length < LIMITS.reportFiles) files.push({ path: artifact.path, change: `written (${artifact.kind})` });
  }
  return { files, total };
}

// ---------------------------------------------------------------------------------------------
// Markdown, as committed on the branch and served by the API.

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const table = (head: string[], rows: string[][]) =>
  rows.length === 0 ? '_none_\n' : [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n') + '\n';
const code = (text: string) => `\`${text.replace(/`/g, "'")}\``;
const percent = (value: number, digits = 1) => `${(value * 100).toFixed(digits)} %`;
const more = (shown: number, total: number) => (total > shown ? [`- … and ${total - shown} more`] : []);
const mark = { 'in-place': '', undone: 'undone by the run', 'undo-failed': 'UNDO FAILED' } as const;

/** Milliseconds as `24h`, `90m`, `45s`. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

export function reportMarkdown(report: RunReport): string {
  const out: string[] = [
    `# Run report: ${report.feature}`,
    '',
    `- Run: \`${report.runId}\``,
    `- Requested by: ${report.requester}`,
    `- Status: **${report.status}**${report.reason ? ` — ${report.reason}` : ''}`,
    `- Branch: \`${report.branch ?? '?'}\`${report.baseCommit && report.headCommit ? ` (${report.baseCommit.slice(0, 12)}..${report.headCommit.slice(0, 12)})` : ''}`,
    `- Services: ${report.services.join(', ') || '_none_'}`,
    `- Started: ${report.startedAt}${report.endedAt ? `, ended: ${report.endedAt}` : ''}`,
    ...(report.final ? [] : ['- **Not final**: the run goes on; this says where it stands so far.']),
    ...(report.sandbox === 'none' ? ["- **Sandbox: none** — commands from the branch ran as Slipway's own user, with its network (config `sandbox.mode: none`)"] : []),
    '',
  ];
  const unknown = report.factsGathered ? '' : ' (read from the branch when the run ends)';

  out.push('## Services modified', '');
  if (report.servicesModified.length === 0) out.push('_none_', '');
  for (const s of report.servicesModified) {
    out.push(`### ${s.service}`, '');
    out.push(`- Plan: ${s.integrations === undefined ? 'not recorded' : s.integrations.length > 0 ? s.integrations.join(', ') : 'code only'}`);
    out.push(`- Files changed: ${report.factsGathered ? s.filesTotal : `?${unknown}`}`);
    for (const f of s.files) out.push(`  - ${f.change} ${code(f.path)}`);
    if (report.factsGathered && s.filesTotal > s.files.length) out.push(`  - … and ${s.filesTotal - s.files.length} more`);
    const grpc = s.grpc.map((g) => `  - ${g.change} ${code(`${g.service}/${g.method}`)}: ${code(g.signature)}${g.was ? ` (was ${code(g.was)})` : ''}`);
    out.push(`- gRPC methods: ${!report.factsGathered ? `?${unknown}` : s.grpcTotal === 0 ? `none added or changed${s.protoFiles.length > 0 ? ` (${s.protoFiles.length} .proto file(s) changed)` : ''}` : `${s.grpcTotal} added, changed or removed`}`, ...grpc);
    if (report.factsGathered && s.grpcTotal > s.grpc.length) out.push(`  - … and ${s.grpcTotal - s.grpc.length} more`);
    const events = [...s.events.produces.map((e) => `produces ${code(e)}`), ...s.events.consumes.map((e) => `consumes ${code(e)}`)];
    out.push(`- Events: ${events.length > 0 ? events.join(', ') : s.integrations?.includes('events') ? 'the plan touches events (no event types listed in its services block)' : 'none'}`);
    out.push(`- Migrations: ${s.migrations.length > 0 ? s.migrations.map(code).join(', ') : report.factsGathered ? 'none' : `?${unknown}`}`);
    for (const problem of s.problems) out.push(`- Not read: ${problem}`);
    out.push('');
  }
  if (report.otherFiles.total > 0) {
    out.push(`Other files changed on the branch: ${report.otherFiles.total}`, '', ...report.otherFiles.files.map((f) => `- ${f.change} ${code(f.path)}`), ...more(report.otherFiles.files.length, report.otherFiles.total), '');
  }

  out.push('## Migrations applied', '');
  out.push(table(['service', 'environment', 'database', 'versions', 'reverted'], report.migrations.map((m) => [m.service, m.environment, code(m.database), m.versions.join(', '), m.state === 'undone' ? 'yes' : m.state === 'undo-failed' ? 'REVERT FAILED' : 'no'])));

  out.push('## Deployments', '');
  out.push(
    table(
      ['service', 'environment', 'status', 'revision', 'image', 'deployed at', 'soak', 'rolled back'],
      report.deployments.map((d) => [
        d.service,
        d.environment,
        d.result,
        d.revision !== undefined ? String(d.revision) : '',
        d.image ?? '',
        d.at ?? '',
        d.soak ?? (d.reason ? d.reason : ''),
        d.state === undefined ? '' : d.state === 'undone' ? 'yes' : d.state === 'undo-failed' ? 'FAILED' : 'no',
      ]),
    ),
  );

  const o = report.observability;
  out.push('## Observability', '');
  if (!o.written) out.push('- Not written: the run ended before the observability phase.');
  if (o.dashboard !== undefined) {
    out.push(`- Grafana dashboard: ${code(o.dashboard.path)}${o.dashboard.title ? ` (${o.dashboard.title})` : ''} — ${o.dashboard.url ?? (o.grafanaUrl === undefined ? 'no URL: set `observability.grafanaUrl` in the config' : 'no URL: the dashboard has no uid')}`);
  }
  if (o.alertsPath !== undefined || o.alertsTotal > 0) {
    out.push(`- Prometheus alert rules${o.alertsPath ? ` in ${code(o.alertsPath)}` : ''}: ${o.alerts.join(', ') || '_none_'}${o.alertsTotal > o.alerts.length ? ` … and ${o.alertsTotal - o.alerts.length} more` : ''}`);
  }
  out.push(
    `- Tracing: ${
      o.tracing.length === 0
        ? `?${unknown}`
        : o.tracing.map((t) => `${t.service} ${t.endpoint !== undefined ? `exports to ${code(t.endpoint)}` : 'not configured (no OTEL_EXPORTER_OTLP_ENDPOINT in its production manifest)'}`).join('; ')
    }`,
    '',
  );

  out.push('## Documentation', '');
  if (report.documentation.total === 0) out.push('_none_');
  out.push(...report.documentation.files.map((f) => `- ${f.change} ${code(f.path)}`), ...more(report.documentation.files.length, report.documentation.total), '');

  out.push('## Quality metrics', '');
  out.push(
    table(
      ['service', 'test coverage', 'performance regression', 'production error ratio', 'production p99', 'soak'],
      report.quality.map((q) => [
        q.service,
        q.coverage !== undefined ? `${q.coverage.percent.toFixed(1)} % (${q.coverage.format}, ${code(q.coverage.source)})` : report.factsGathered ? 'not reported' : '?',
        q.performance !== undefined ? `${q.performance.regressionPercent >= 0 ? '+' : ''}${q.performance.regressionPercent.toFixed(1)} %${q.performance.baseline ? ` vs ${q.performance.baseline}` : ''}` : report.factsGathered ? 'not reported' : '?',
        q.production?.errorRatio !== undefined ? `${percent(q.production.errorRatio, 2)} (SLO ${percent(q.sloErrorRatio, 2)})` : 'no data',
        q.production?.p99Seconds !== undefined ? `${Math.round(q.production.p99Seconds * 1000)} ms (SLO ${Math.round(q.sloP99Seconds * 1000)} ms)` : 'no data',
        q.production !== undefined ? `${q.production.decision}, ${q.production.samples}/${q.production.planned} samples in ${q.production.environment}` : 'no production soak',
      ]),
    ),
  );

  out.push(`## ${report.monitoring.durationMs !== undefined ? formatDuration(report.monitoring.durationMs) : '24-hour'} monitoring`, '');
  if (!report.monitoring.configured) out.push('Not configured (config `analysis.watch`).', '');
  else {
    out.push(`The post-deploy watch samples production every ${formatDuration(report.monitoring.intervalMs ?? 0)} for ${formatDuration(report.monitoring.durationMs ?? 0)}.`, '');
    out.push(
      report.monitoring.watches.length === 0
        ? `_not started_${report.final ? ' (the run ended before production was delivered)' : ''}\n`
        : table(['service', 'environment', 'status', 'samples', 'failing', 'latest', 'ends'], report.monitoring.watches.map((w) => [w.service, w.environment, w.status, `${w.samples}/${w.planned}`, String(w.failing), w.reason ?? w.last ?? '', w.endsAt ?? ''])),
    );
  }

  out.push('## Rollback plan', '');
  const inPlace = report.rollback.steps.filter((s) => s.state !== 'undone');
  const undoLine =
    report.status === 'succeeded'
      ? `To undo this run, \`slipway rollback ${report.runId} -m "why"\` runs these steps, newest change first, once an approver other than you approves; it refuses when a later run changed the same services or databases since. By hand, the same steps are:`
      : 'To undo this run, run these steps by hand, newest change first:';
  out.push(inPlace.length === 0 ? 'Nothing of this run is left in place to undo.' : undoLine, '');
  if (report.rollback.steps.length > 0) {
    for (const step of report.rollback.steps) {
      out.push(`- ${step.service} in ${step.environment}, ${step.kind}${step.note ? ` (${step.note})` : ''}${step.state !== 'in-place' ? ` — **${mark[step.state]}**` : ''}:`, '', '  ```bash', ...step.commands.map((c) => `  ${c}`), '  ```', '');
    }
  }

  out.push('## Approvals', '');
  out.push(table(['gate', 'round', 'decision', 'by', 'at', 'comment'], report.approvals.map((a) => [a.gate, String(a.round), a.decision, a.by, a.at, a.comment ?? ''])));
  out.push('## Compensations', '');
  out.push(table(['step', 'status', 'at', 'error'], report.compensations.map((c) => [c.name, c.status, c.at ?? '', c.error ?? ''])));
  const cost = report.cost;
  out.push('## Cost', '', `${cost.inputTokens} input, ${cost.outputTokens} output, ${cost.cacheReadTokens} cache-read and ${cost.cacheWriteTokens} cache-write tokens; about $${cost.costUsd.toFixed(2)}.`, '');
  out.push('## Timeline', '');
  if (report.timelineOmitted > 0) out.push(`- … ${report.timelineOmitted} earlier event(s): see \`slipway status ${report.runId}\``);
  out.push(...report.timeline.map((e) => `- ${e.at} · ${e.phase} · ${e.event}${e.detail ? ` — ${e.detail}` : ''}`), '');
  return out.join('\n');
}

/**
 * The report cut to fit `maxBytes` of JSON (the memo copy the API reads without a worker): the
 * timeline goes first, then the file lists, then the gRPC and alert lists; counts always stay.
 */
export function boundedReport(report: RunReport, maxBytes: number): RunReport {
  const size = (r: RunReport) => JSON.stringify(r).length;
  if (size(report) <= maxBytes) return report;
  const cuts: ((r: RunReport) => RunReport)[] = [
    (r) => ({ ...r, timeline: [], timelineOmitted: r.timelineOmitted + r.timeline.length }),
    (r) => ({ ...r, servicesModified: r.servicesModified.map((s) => ({ ...s, files: [] })), otherFiles: { ...r.otherFiles, files: [] }, documentation: { ...r.documentation, files: [] } }),
    (r) => ({ ...r, servicesModified: r.servicesModified.map((s) => ({ ...s, grpc: [] })), observability: { ...r.observability, alerts: [] } }),
    (r) => ({ ...r, approvals: r.approvals.slice(-10), compensations: r.compensations.map((c) => ({ ...c, ...(c.error !== undefined ? { error: clip(c.error, 200) } : {}) })) }),
  ];
  let bounded = report;
  for (const cut of cuts) {
    bounded = cut(bounded);
    if (size(bounded) <= maxBytes) return bounded;
  }
  return bounded;
}
