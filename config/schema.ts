import ms from 'ms';
import { z } from 'zod';
import { expandApprovers } from './approverGroups';
import { instantOf, isTimeZone, localDateTime, minuteOfDay, minuteOfWeek, WEEKDAYS } from './freezeWindows';
import { sandboxSchema } from './sandbox';

/** A human duration such as "15m", "30s" or "72h", turned into milliseconds. */
export const durationSchema = z
  .string()
  .trim()
  .transform((text, ctx) => {
    const value = ms(text as ms.StringValue);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a positive duration (examples: 30s, 15m, 72h)` });
      return z.NEVER;
    }
    return value;
  });

const identifier = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, 'use lower-case letters, digits and dashes, starting with a letter');

/** Names an environment variable; the secret itself never appears in config. */
const envVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be the NAME of an environment variable, not its value');

export const gatePolicySchema = z.object({
  required: z.boolean().prefault(true),
  /** Approver ids and group names (see `approvers` and `approverGroups`); empty means every approver may decide. */
  approvers: z.array(identifier).prefault([]),
  /** Distinct approvers the gate needs. Above 1, the run's requester never counts (four-eyes); a rejection by any of them rejects at once. */
  approvals: z.number().int().min(1).prefault(1),
  /**
   * Approver ids and group names who may approve this gate alone, whatever `approvals` asks, with a
   * comment saying why (an emergency override, audited as such); never the run's requester.
   */
  overrideBy: z.array(identifier).prefault([]),
  deadline: durationSchema.prefault('72h'),
});

/** What to do with a check that has no data (no traffic, no series). */
export const noDataPolicySchema = z.enum(['pass', 'fail', 'inconclusive']);

/** A PromQL range such as 1m or 30s, as it appears inside a query. */
const promDuration = z.string().regex(/^[0-9]+(ms|s|m|h|d)$/, 'use a PromQL duration such as 30s, 1m or 5m');

export const sloCheckSchema = z.object({
  name: identifier,
  /**
   * PromQL with placeholders: {{selector}} (the service's label matchers), {{window}},
   * {{service}}, {{environment}}.
   */
  query: z.string().min(1),
  threshold: z.number(),
  failWhen: z.enum(['above', 'below']).prefault('above'),
  noData: noDataPolicySchema.optional(),
});

/** The metrics a baseline comparison knows by name; any other needs its own `query`. */
export const BUILT_IN_BASELINE_METRICS = ['error-ratio', 'p99-latency', 'mean-latency'] as const;

/** The most points one side of a comparison may have (a bound on each range query and on the test's work). */
export const MAX_BASELINE_POINTS = 1_000;

export const baselineMetricSchema = z.object({
  /** error-ratio, p99-latency and mean-latency are built in (from the go-grpc-prometheus metrics); other names need a `query`. */
  name: identifier,
  /**
   * PromQL giving one value per point: {{selector}} (the service's label matchers, narrowed to a
   * version when the comparison has one), {{window}} (the step), {{service}}, {{environment}}, {{namespace}}.
   */
  query: z.string().min(1).optional(),
  /** Which direction is worse for the new version. */
  worseWhen: z.enum(['higher', 'lower']).prefault('higher'),
  /** How "worse by" is measured on the means: `relative` to the baseline's mean (0.2 = 20 % worse), or `absolute` in the metric's own unit. */
  effect: z.enum(['relative', 'absolute']).prefault('relative'),
  /** The new version fails only when it is worse by at least this much as well as with the configured confidence. */
  minEffect: z.number().nonnegative(),
});

/**
 * Judges the new version against the one it replaces during the soak (as Kayenta does): each metric
 * is sampled for both as a series of points, and a one-sided Mann-Whitney U test says whether the
 * new version is worse. Present means on (`baseline: {}` takes every default); the post-deploy watch never compares.
 */
export const baselineSchema = z
  .object({
    /** Off keeps the settings but skips the comparison. */
    enabled: z.boolean().prefault(true),
    /**
     * `window`: the previous version's own record before the rollout (a range query over `lookback`);
     * `pods`: pods still running the previous image during the soak (needs `versionLabel`);
     * `auto`: those pods when they have `minPoints` points, else the window.
     */
    source: z.enum(['auto', 'pods', 'window']).prefault('auto'),
    /** One-sided confidence that the new version is worse before it fails (the p-value must be below 1 - confidence). */
    confidence: z.number().min(0.5).max(0.9999).prefault(0.98),
    /** How far before the rollout the recorded baseline reaches. */
    lookback: durationSchema.prefault('1h'),
    /** One point per step, each the rate over that step, so points do not overlap. */
    step: promDuration.prefault('1m'),
    /** Points each side needs before the test may decide; fewer is waiting (new version) or no data (baseline). */
    minPoints: z.number().int().min(5).max(MAX_BASELINE_POINTS).prefault(5),
    /** The series label naming the image a pod runs (the local world's Prometheus sets `image`); without it only `window` is possible. */
    versionLabel: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'a Prometheus label name').optional(),
    /** Environments whose soak compares (e.g. [production]); default: every environment with a soak. */
    environments: z.array(identifier).optional(),
    /** What a comparison without enough points counts as, once it should have them; default: `analysis.noData`. */
    noData: noDataPolicySchema.optional(),
    /** What is compared, each metric on its own; by default the error ratio (1 point absolute), P99 (20 %) and mean latency (10 %). */
    metrics: z
      .array(baselineMetricSchema)
      .min(1)
      .prefault([
        { name: 'error-ratio', effect: 'absolute', minEffect: 0.01 },
        { name: 'p99-latency', effect: 'relative', minEffect: 0.2 },
        { name: 'mean-latency', effect: 'relative', minEffect: 0.1 },
      ]),
  })
  .superRefine((baseline, ctx) => {
    if (baseline.source === 'pods' && baseline.versionLabel === undefined) {
      ctx.addIssue({ code: 'custom', path: ['versionLabel'], message: 'source "pods" needs versionLabel: the label that tells the old pods from the new' });
    }
    const points = Math.floor(baseline.lookback / ms(baseline.step as ms.StringValue));
    if (points < baseline.minPoints || points > MAX_BASELINE_POINTS) {
      ctx.addIssue({ code: 'custom', path: ['lookback'], message: `lookback / step gives ${points} baseline points; it must be between minPoints (${baseline.minPoints}) and ${MAX_BASELINE_POINTS}` });
    }
    baseline.metrics.forEach((metric, i) => {
      if (metric.query === undefined && !(BUILT_IN_BASELINE_METRICS as readonly string[]).includes(metric.name)) {
        ctx.addIssue({ code: 'custom', path: ['metrics', i, 'query'], message: `"${metric.name}" is not built in (${BUILT_IN_BASELINE_METRICS.join(', ')}): give its query` });
      }
      if (baseline.metrics.findIndex((m) => m.name === metric.name) !== i) ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `duplicate metric "${metric.name}"` });
    });
  });

const sloSchema = z.object({
  errorRatio: z.number().min(0).max(1).prefault(0.05),
  p99Seconds: z.number().positive().prefault(1),
  /** Label matchers that pick the service's series; {{service}} and {{environment}} are filled in. */
  selector: z.string().min(1).prefault('job="{{service}}"'),
  /** gRPC methods the feature adds; each gets its own alert rules. */
  methods: z.array(z.string().min(1)).prefault([]),
  /** Extra checks besides the error-ratio and P99 defaults. */
  checks: z.array(sloCheckSchema).prefault([]),
  /** Compare this service with its baseline during the soak; default: whether `analysis.baseline` is on. */
  baseline: z.boolean().optional(),
});

/**
 * A service's checks before production, each a command run sandboxed in the run's worktree (after
 * `commands.setup`). `test` and `audit` block: a failure stops the run before production and rolls
 * back what it changed. `outdated` is a report: recorded and shown at the production gate.
 */
export const preDeployChecksSchema = z.object({
  /** Defaults to `commands.test`. */
  test: z.string().min(1).optional(),
  /** A dependency vulnerability audit, e.g. `npm audit --audit-level=high`, `cargo audit`. */
  audit: z.string().min(1).optional(),
  /** An outdated-dependency report, e.g. `npm outdated`, `cargo outdated`; never blocks. */
  outdated: z.string().min(1).optional(),
  /**
   * An audit that could not reach its vulnerability database is not a pass: `required` (default)
   * blocks production on it, `optional` records it and goes on.
   */
  auditUnavailable: z.enum(['required', 'optional']).prefault('required'),
});

export const serviceSchema = z.object({
  name: identifier,
  path: z.string().min(1),
  commands: z.record(z.string(), z.string().min(1)).prefault({}),
  database: z
    .object({
      /** Variable holding the database URL, for every environment without its own below. */
      urlEnv: envVarName,
      /** Per-environment variables, e.g. { production: MESSAGES_PROD_DATABASE_URL }. */
      urlEnvByEnvironment: z.record(z.string(), envVarName).prefault({}),
      migrationsDir: z.string().min(1).prefault('migrations'),
      /** File names of a migration pair; sqlx's layout by default. */
      layout: z
        .object({
          up: z.string().includes('{version}').includes('{name}').prefault('{version}_{name}.up.sql'),
          down: z.string().includes('{version}').includes('{name}').prefault('{version}_{name}.down.sql'),
        })
        .prefault({}),
    })
    .optional(),
  /**
   * How the run's image of the service is made from its branch (after `commands.setup` and
   * `commands.build`, sandboxed): either a `command` that builds and pushes `{{image}}` (e.g.
   * `docker buildx build --push -t {{image}} services/messages`, `ko build`, a CI trigger), or
   * `layers` that Slipway packs itself with crane into an image on `images.registry` (no Docker).
   * Deployments then run that image by digest.
   */
  build: z
    .object({
      command: z.string().min(1).optional(),
      /** Folders of the worktree (relative to it) and where they go in the image. */
      layers: z.array(z.object({ from: z.string().min(1), to: z.string().startsWith('/'), include: z.array(z.string()).optional() })).optional(),
      entrypoint: z.array(z.string().min(1)).min(1).optional(),
      workingDir: z.string().startsWith('/').optional(),
      env: z.record(z.string(), z.string()).prefault({}),
    })
    .refine((b) => (b.command === undefined) !== (b.layers === undefined), { message: 'give either build.command or build.layers (with build.entrypoint)' })
    .refine((b) => b.layers === undefined || b.entrypoint !== undefined, { message: 'build.layers needs build.entrypoint', path: ['entrypoint'] })
    .optional(),
  kubernetes: z
    .object({
      deployment: z.string().min(1),
      container: z.string().min(1).optional(),
      /** Image when the run builds none, e.g. registry.example.com/messages:1.4.0. */
      image: z.string().min(1).prefault('registry.local/{{service}}:latest'),
      /** The HTTP port: probes (/readyz, /healthz) and metrics (/metrics). */
      port: z.number().int().min(1).max(65535).prefault(8080),
      /** The gRPC port, when the service serves one (a Service port named grpc). */
      grpcPort: z.number().int().min(1).max(65535).optional(),
      /** Plain settings for the container, in its ConfigMap (never secrets: those come from envFromSecrets). */
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string()).prefault({}),
      /** Secrets whose keys become the container's environment (e.g. DATABASE_URL); they exist in each namespace. */
      envFromSecrets: z.array(z.string().min(1)).prefault([]),
      replicas: z.number().int().min(1).prefault(2),
      maxReplicas: z.number().int().min(1).prefault(6),
      resources: z
        .object({
          cpu: z.string().prefault('100m'),
          memory: z.string().prefault('128Mi'),
          cpuLimit: z.string().prefault('500m'),
          memoryLimit: z.string().prefault('256Mi'),
        })
        .prefault({}),
      /** How long a rollout may make no progress before it fails. */
      progressDeadlineSeconds: z.number().int().min(1).prefault(600),
    })
    .optional(),
  slo: sloSchema.prefault({ errorRatio: 0.05, p99Seconds: 1 }),
  /**
   * Post-deploy verification per environment name, e.g. { dev: "npm run smoke", staging: "npm run
   * test:integration", production: "npm run smoke" }: run sandboxed in the run's worktree after the
   * service's rollout (and soak) in that environment, against that environment's endpoints.
   * A failure rolls the run back like a failed soak. Needs `verify` in `sandbox.network.commands`.
   */
  verify: z.record(z.string(), z.string().min(1)).prefault({}),
  /** Checks before production (see preDeployChecksSchema). */
  checks: preDeployChecksSchema.prefault({}),
});

/**
 * Where a verification command finds the environment's services. It gets, per service, the
 * variables Kubernetes gives pods (MESSAGES_SERVICE_HOST, MESSAGES_SERVICE_PORT, and
 * MESSAGES_SERVICE_PORT_GRPC per named port), plus SLIPWAY_ENVIRONMENT, SLIPWAY_NAMESPACE,
 * SLIPWAY_SERVICE and the verified service's DATABASE_URL.
 */
export const endpointsSchema = z.object({
  /** The host of each Service; {{service}} (the Deployment's name) and {{namespace}} are filled in. */
  host: z.string().min(1).prefault('{{service}}.{{namespace}}.svc.cluster.local'),
  /**
   * A JSON file listing each Service's addresses instead, `[{ namespace, service, ports: { grpc:
   * "127.0.0.1:40123" } }]`, read when a verification starts. With a `world` section it defaults to
   * the local world's `<world.dir>/kubelet/services.json`.
   */
  servicesFile: z.string().min(1).optional(),
});

export const environmentSchema = z.object({
  name: identifier,
  kubeContext: z.string().min(1).optional(),
  namespace: z.string().min(1).prefault('default'),
  soak: z
    .object({
      duration: durationSchema.prefault('15m'),
      interval: durationSchema.prefault('15s'),
    })
    .optional(),
  gate: gatePolicySchema.prefault({ required: false, approvers: [], deadline: '72h' }),
  /** How this environment's post-deploy verification (services[].verify) runs. */
  verification: z
    .object({
      /** Longest a verification command may run; then it fails. */
      timeout: durationSchema.prefault('15m'),
      endpoints: endpointsSchema.prefault({}),
    })
    .prefault({}),
});

export const temporalTlsSchema = z
  .object({
    /** Host name the server's certificate must carry, when it differs from the address (SNI too). */
    serverName: z.string().min(1).optional(),
    /** Variable holding the CA bundle that signed the server's certificate (PEM, or a path to a PEM file). Unset: the system's CAs. */
    caCertEnv: envVarName.optional(),
    /** Variable holding this client's certificate for mTLS (PEM, or a path to a PEM file). */
    clientCertEnv: envVarName.optional(),
    /** Variable holding the client certificate's private key (PEM, or a path to a PEM file). */
    clientKeyEnv: envVarName.optional(),
  })
  .refine((tls) => (tls.clientCertEnv === undefined) === (tls.clientKeyEnv === undefined), {
    message: 'mTLS needs both clientCertEnv and clientKeyEnv (or neither)',
    path: ['clientKeyEnv'],
  });

export const temporalSchema = z
  .object({
    /** host:port of the Temporal frontend, e.g. my-ns.a1b2c.tmprl.cloud:7233 or temporal-frontend:7233. */
    address: z.string().min(1).prefault('127.0.0.1:7233'),
    /** Web UI base URL, used for links in notifications (npm start sets it). */
    uiUrl: z.url().optional(),
    namespace: z.string().min(1).prefault('default'),
    taskQueue: z.string().min(1).prefault('slipway'),
    /** Connect over TLS; `tls: {}` uses the system's CAs. Implied by apiKeyEnv. */
    tls: temporalTlsSchema.optional(),
    /** Variable holding a Temporal Cloud API key (sent as a bearer token; turns TLS on). */
    apiKeyEnv: envVarName.optional(),
  })
  .prefault({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'slipway' });

export const approverSchema = z.object({
  id: identifier,
  slackUserId: z.string().min(1).optional(),
});

/**
 * `analysis.watch`: the post-deploy watch of every production service, with its own thresholds.
 * Each sample checks the error ratio and P99 (the service's own and per gRPC method), the growth
 * of resident memory, and, for services with a database, its load against the pre-deploy baseline.
 */
export const watchSchema = z.object({
  duration: durationSchema.prefault('24h'),
  interval: durationSchema.prefault('5m'),
  /** Fails above this ratio of non-OK calls (1 %). */
  errorRatio: z.number().min(0).max(1).prefault(0.01),
  /** Fails above this P99 latency (500 ms). */
  p99Seconds: z.number().positive().prefault(0.5),
  /** Memory stable: the regression slope of resident memory over `window`, as a fraction of it per hour. */
  memory: z
    .object({
      enabled: z.boolean().prefault(true),
      metric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'a Prometheus metric name').prefault('process_resident_memory_bytes'),
      window: promDuration.prefault('1h'),
      /** Fails when any pod's memory grows faster than this fraction per hour (0.1: 10 %/h). */
      maxGrowthPerHour: z.number().positive().prefault(0.1),
    })
    .prefault({}),
  /**
   * Database load normal: open connections and mean query time, each against its mean over
   * `baselineWindow` before the service's production rollout, from the service's pool metrics.
   */
  database: z
    .object({
      enabled: z.boolean().prefault(true),
      /** A gauge of the pool's open connections (label `state` is summed over). */
      connectionsMetric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'a Prometheus metric name').prefault('db_client_connection_count'),
      /** A histogram of query durations in seconds (its _sum and _count are used). */
      queryDurationMetric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'a Prometheus metric name').prefault('db_client_operation_duration_seconds'),
      baselineWindow: promDuration.prefault('1h'),
      /** Fails above this multiple of the baseline's connections… */
      maxConnectionsRatio: z.number().positive().prefault(1.5),
      /** …or of its mean query time. */
      maxQueryTimeRatio: z.number().positive().prefault(1.5),
      /** A smaller baseline counts as this much, so a nearly idle pool or a sub-millisecond query does not make noise. */
      minConnections: z.number().positive().prefault(2),
      minQuerySeconds: z.number().positive().prefault(0.005),
    })
    .prefault({}),
});

const timeOfDay = z.string().trim().refine((text) => minuteOfDay(text) !== undefined, 'a time of day as HH:MM (24-hour, e.g. 08:00)');
const dayAndTime = z
  .string()
  .trim()
  .toLowerCase()
  .refine((text) => minuteOfWeek(text) !== undefined, 'a day and a time such as "fri 16:00" (days: sun, mon, tue, wed, thu, fri, sat)');
const dateAndTime = z.string().trim().refine((text) => localDateTime(text) !== undefined, 'a local date and time such as "2026-12-21 00:00" (or a date alone for 00:00)');

/**
 * A scheduled production freeze: while it is open no production rollout starts. Give exactly one
 * of `weekly`, `daily` or `once`; every time is wall-clock time in `timeZone`.
 */
export const freezeWindowSchema = z
  .object({
    name: identifier,
    /** An IANA time zone such as Europe/Berlin or America/New_York (or UTC); required, so no one guesses whose evening it is. */
    timeZone: z.string().trim().refine(isTimeZone, { error: (issue) => `"${String(issue.input)}" is not a time zone this runtime knows: use an IANA name such as Europe/Berlin or UTC` }),
    /** What people see while the window holds a run, e.g. "weekend: no production changes". */
    reason: z.string().trim().min(1).max(200).optional(),
    /** Once a week, from a day and time to a day and time, e.g. from "fri 16:00" to "mon 08:00". */
    weekly: z.object({ from: dayAndTime, to: dayAndTime }).optional(),
    /** Every listed day (every day by default) from `from` to `to`; a `to` at or before `from` is the next morning. */
    daily: z.object({ from: timeOfDay, to: timeOfDay, days: z.array(z.enum(WEEKDAYS)).min(1).optional() }).optional(),
    /** One span of local dates and times, e.g. end of quarter from "2026-12-21 00:00" to "2027-01-04 08:00". */
    once: z.object({ from: dateAndTime, to: dateAndTime }).optional(),
  })
  .superRefine((window, ctx) => {
    const kinds = (['weekly', 'daily', 'once'] as const).filter((kind) => window[kind] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `give exactly one of weekly, daily or once (found ${kinds.length === 0 ? 'none' : kinds.join(' and ')})` });
      return;
    }
    if (window.weekly !== undefined && minuteOfWeek(window.weekly.from) === minuteOfWeek(window.weekly.to)) {
      ctx.addIssue({ code: 'custom', path: ['weekly', 'to'], message: 'from and to are the same time: a window must have a length' });
    }
    if (window.daily !== undefined && minuteOfDay(window.daily.from) === minuteOfDay(window.daily.to)) {
      ctx.addIssue({ code: 'custom', path: ['daily', 'to'], message: 'from and to are the same time: for a whole day use weekly (e.g. "sat 00:00" to "mon 00:00")' });
    }
    if (window.once !== undefined && isTimeZone(window.timeZone)) {
      const from = localDateTime(window.once.from);
      const to = localDateTime(window.once.to);
      if (from !== undefined && to !== undefined && instantOf(to, window.timeZone) <= instantOf(from, window.timeZone)) {
        ctx.addIssue({ code: 'custom', path: ['once', 'to'], message: `ends (${window.once.to}) before it starts (${window.once.from})` });
      }
    }
  });

export const slipwayConfigSchema = z
  .object({
    repository: z.object({
      /** The checkout Slipway works in; cloned from `url` when it does not exist yet. */
      path: z.string().min(1),
      url: z.string().min(1).optional(),
      remote: z.string().min(1).optional(),
      baseBranch: z.string().min(1).prefault('main'),
      /** Where each run's git worktree lives (one folder per run). */
      worktreesDir: z.string().min(1).prefault('.slipway/worktrees'),
      /** Keep a run's worktree after it ends (the branch is always kept: it is the run's history). */
      keepWorktrees: z.boolean().prefault(false),
    }),
    services: z.array(serviceSchema).min(1, 'list at least one service'),
    environments: z.array(environmentSchema).min(1, 'list at least one environment (dev, staging, production)'),
    gates: z
      .object({
        spec: gatePolicySchema.prefault({ required: true, approvers: [], deadline: '72h' }),
        migrationReview: gatePolicySchema.prefault({ required: true, approvers: [], deadline: '72h' }),
        manifestReview: gatePolicySchema.prefault({ required: true, approvers: [], deadline: '72h' }),
        /** Without an `llm` section, each agent's step is a person's: the gate waits until they say it is done. */
        personSteps: gatePolicySchema.omit({ required: true, approvals: true, overrideBy: true }).prefault({ approvers: [], deadline: '7d' }),
      })
      .prefault({
        spec: { required: true, approvers: [], deadline: '72h' },
        migrationReview: { required: true, approvers: [], deadline: '72h' },
        manifestReview: { required: true, approvers: [], deadline: '72h' },
        personSteps: { approvers: [], deadline: '7d' },
      }),
    approvers: z.array(approverSchema).prefault([]),
    /** Named groups of approver ids (e.g. `team-leads: [lead, ana]`) that a gate's `approvers` may name instead of listing each person. */
    approverGroups: z.record(identifier, z.array(identifier).min(1, 'a group needs at least one approver')).prefault({}),
    prometheus: z
      .object({
        url: z.url(),
        queryTimeout: durationSchema.prefault('10s'),
      })
      .optional(),
    migrations: z
      .object({
        /** squawk rules whose findings block the migration-review gate (besides error-level ones). */
        blockingRules: z
          .array(z.string())
          .prefault(['adding-required-field', 'ban-drop-column', 'ban-drop-table', 'ban-drop-database', 'changing-column-type', 'renaming-column', 'renaming-table', 'require-concurrent-index-creation', 'constraint-missing-not-valid', 'disallowed-unique-constraint']),
      })
      .prefault({}),
    /** How soak samples become a verdict. */
    analysis: z
      .object({
        /** Rate window used by the default queries. */
        window: promDuration.prefault('1m'),
        /** A check must fail this many samples in a row before the soak fails. */
        consecutiveFailures: z.number().int().min(1).prefault(2),
        /** Below this many requests in the window a check cannot pass: it has no data. */
        minRequests: z.number().int().min(0).prefault(20),
        noData: noDataPolicySchema.prefault('inconclusive'),
        /** Samples in a row with Prometheus unreachable before the soak fails for it. */
        unreachableLimit: z.number().int().min(1).prefault(3),
        /** Also judge the new version against the previous one (Mann-Whitney U), besides the fixed thresholds. */
        baseline: baselineSchema.optional(),
        /** The optional post-deploy watch after production: stricter limits than the soak, sampled less often. */
        watch: watchSchema.optional(),
      })
      .prefault({}),
    /** Where people look at what a run delivered; the summary report links it. */
    observability: z
      .object({
        /** Grafana's base URL, e.g. https://grafana.example.com: the report links a run's dashboard as <grafanaUrl>/d/<uid>. */
        grafanaUrl: z.url().optional(),
      })
      .optional(),
    slack: z
      .object({
        /** Channel ID (C…) or name the gate messages go to. */
        channel: z.string().min(1),
        tokenEnv: envVarName.prefault('SLACK_BOT_TOKEN'),
        signingSecretEnv: envVarName.prefault('SLACK_SIGNING_SECRET'),
        /** Slack Web API base URL; only tests point it elsewhere. */
        apiUrl: z.url().prefault('https://slack.com/api/'),
      })
      .optional(),
    llm: z
      .object({
        provider: z.literal('anthropic').prefault('anthropic'),
        model: z.string().min(1),
        apiKeyEnv: envVarName.prefault('ANTHROPIC_API_KEY'),
        baseUrl: z.url().optional(),
        maxTurns: z.number().int().positive().prefault(40),
        tokenBudget: z.number().int().positive().prefault(2_000_000),
      })
      .optional(),
    temporal: temporalSchema,
    /** Where the images a run builds are pushed; `insecure` for a plain-HTTP registry such as the local world's. */
    images: z.object({ registry: z.string().min(1), insecure: z.boolean().prefault(false) }).optional(),
    /**
     * The local world `npm start` brings up under `dir` (registry, Kubernetes control plane, local
     * kubelet, Prometheus, databases, load, the sample monorepo). Leave it out when the config
     * points at real systems.
     */
    world: z
      .object({
        dir: z.string().min(1).prefault('.slipway/world'),
        registryPort: z.number().int().min(1).max(65535).prefault(5001),
        prometheusPort: z.number().int().min(1).max(65535).prefault(9091),
        scrapeInterval: promDuration.prefault('5s'),
        /** Requests per second the load generator sends to each service in each namespace. */
        loadPerSecond: z.number().positive().max(1000).prefault(5),
        /** The machine's PostgreSQL, where the world creates a database per service and environment. */
        postgresAdminUrl: z.string().min(1).prefault('postgres://postgres@127.0.0.1:5432/postgres'),
      })
      .optional(),
    /** Production freezes: scheduled windows in which no production rollout starts (approvers can also freeze by hand: POST /freeze). */
    freeze: z
      .object({
        windows: z.array(freezeWindowSchema).prefault([]),
      })
      .prefault({}),
    /** How commands from a run's branch and the agents' run_command are confined (bubblewrap by default). */
    sandbox: sandboxSchema.prefault({}),
    worker: z
      .object({
        /**
         * Runs whose workflow state a worker keeps in memory between tasks (the sticky cache). A run
         * parked at a gate that falls out of it is replayed from history when its decision comes, which
         * is cheap because a run's state is bounded; this caps the worker's memory however many runs wait.
         */
        maxCachedWorkflows: z.number().int().min(0).max(100_000).prefault(200),
        /** Remove, at start-up, the worktrees of runs that are no longer open (crashed or lost clean-ups). */
        pruneWorktrees: z.boolean().prefault(true),
      })
      .prefault({}),
    api: z
      .object({
        host: z.string().min(1).prefault('127.0.0.1'),
        port: z.number().int().min(0).max(65535).prefault(8080),
      })
      .prefault({ host: '127.0.0.1', port: 8080 }),
  })
  .superRefine((config, ctx) => {
    const approverIds = new Set(config.approvers.map((a) => a.id));
    for (const [group, members] of Object.entries(config.approverGroups)) {
      if (approverIds.has(group)) ctx.addIssue({ code: 'custom', path: ['approverGroups', group], message: `"${group}" is both an approver id and a group name` });
      members.forEach((id, i) => {
        if (!approverIds.has(id)) ctx.addIssue({ code: 'custom', path: ['approverGroups', group, i], message: `"${id}" is not listed under approvers` });
      });
    }
    const checkGate = (gate: { approvers: string[]; approvals?: number; overrideBy?: string[] }, path: (string | number)[]) => {
      for (const field of ['approvers', 'overrideBy'] as const) {
        (gate[field] ?? []).forEach((name, i) => {
          if (!approverIds.has(name) && config.approverGroups[name] === undefined) {
            ctx.addIssue({ code: 'custom', path: [...path, field, i], message: `"${name}" is not listed under approvers nor under approverGroups` });
          }
        });
      }
      const approvals = gate.approvals ?? 1;
      if (approvals === 1) return;
      const eligible = gate.approvers.length > 0 ? expandApprovers(gate.approvers, config.approverGroups) : [...approverIds];
      // The requester never counts above one approval, and may be any of them: a run must be approvable whoever asked.
      if (approvals > eligible.length - 1) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'approvals'],
          message: `${approvals} approvals need ${approvals + 1} people who may approve (the requester never counts), but ${eligible.length === 0 ? 'no approvers are listed' : `only ${eligible.length} may: ${eligible.join(', ')}`}`,
        });
      }
    };
    for (const [name, gate] of Object.entries(config.gates)) checkGate(gate, ['gates', name]);
    config.environments.forEach((env, i) => checkGate(env.gate, ['environments', i, 'gate']));
    const unique = (names: string[], path: string) =>
      names.forEach((name, i) => {
        if (names.indexOf(name) !== i) ctx.addIssue({ code: 'custom', path: [path, i, 'name'], message: `duplicate name "${name}"` });
      });
    const baseline = config.analysis.baseline;
    baseline?.environments?.forEach((name, i) => {
      if (!config.environments.some((e) => e.name === name)) ctx.addIssue({ code: 'custom', path: ['analysis', 'baseline', 'environments', i], message: `"${name}" is not an environment` });
    });
    config.environments.forEach((env, i) => {
      if (baseline === undefined || env.soak === undefined || (baseline.environments !== undefined && !baseline.environments.includes(env.name))) return;
      // A soak that ends before the comparison may decide would pass without it, silently.
      const steps = Math.floor(env.soak.duration / ms(baseline.step as ms.StringValue));
      if (steps < baseline.minPoints + 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', i, 'soak', 'duration'],
          message: `a ${ms(env.soak.duration)} soak gives ${steps} points at analysis.baseline.step ${baseline.step}; comparing with the baseline needs ${baseline.minPoints + 1} (lengthen the soak, shorten the step, or leave ${env.name} out of analysis.baseline.environments)`,
        });
      }
    });
    config.services.forEach((service, i) => {
      if (service.slo.baseline === true && baseline === undefined) {
        ctx.addIssue({ code: 'custom', path: ['services', i, 'slo', 'baseline'], message: 'comparing with the baseline needs an analysis.baseline section (baseline: {} takes the defaults)' });
      }
    });
    unique(config.services.map((s) => s.name), 'services');
    unique(config.environments.map((e) => e.name), 'environments');
    config.freeze.windows.forEach((window, i) => {
      if (config.freeze.windows.findIndex((w) => w.name === window.name) !== i) ctx.addIssue({ code: 'custom', path: ['freeze', 'windows', i, 'name'], message: `duplicate name "${window.name}"` });
    });
    const environments = new Set(config.environments.map((e) => e.name));
    config.services.forEach((service, i) => {
      for (const name of Object.keys(service.verify)) {
        if (!environments.has(name)) ctx.addIssue({ code: 'custom', path: ['services', i, 'verify', name], message: `"${name}" is not listed under environments` });
      }
      // Verification exists to call the environment: its network is granted by name, like every command's.
      if (Object.keys(service.verify).length > 0 && config.sandbox.mode === 'bubblewrap' && !config.sandbox.network.commands.includes('verify')) {
        ctx.addIssue({ code: 'custom', path: ['services', i, 'verify'], message: 'verification calls the environment\'s endpoints: add `verify` to sandbox.network.commands' });
      }
    });
  });

export type SlipwayConfig = z.output<typeof slipwayConfigSchema>;
export type SlipwayConfigInput = z.input<typeof slipwayConfigSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type EnvironmentConfig = z.output<typeof environmentSchema>;
export type GatePolicy = z.output<typeof gatePolicySchema>;
export type AnalysisConfig = SlipwayConfig['analysis'];
export type BaselineConfig = z.output<typeof baselineSchema>;
export type WatchConfig = z.output<typeof watchSchema>;
export type FreezeWindowConfig = z.output<typeof freezeWindowSchema>;
export type PreDeployChecksConfig = z.output<typeof preDeployChecksSchema>;
export type RepositoryConfig = SlipwayConfig['repository'];
export type LlmConfig = NonNullable<SlipwayConfig['llm']>;
export type PrometheusConfig = NonNullable<SlipwayConfig['prometheus']>;
export type ObservabilityConfig = NonNullable<SlipwayConfig['observability']>;
