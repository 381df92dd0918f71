import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { defaultSandboxSettings, type SandboxSettings } from '../../config/sandbox';
import type { EnvironmentSettings, ServiceSettings } from '../../config/settings';
import { clipTail, LIMITS, type PreDeployCheck, type Verification, type Workspace } from '../../workflows/state';
import { whileHeartbeating } from '../heartbeat';
import { runConfined } from '../sandbox/confined';
import { checkStatus, ended, type CommandOutcome } from './checks';
import { endpointVariables, redact, resolveEndpoints, type EndpointEnvironment, type EndpointService } from './endpoints';

export interface CheckResult {
  ok: boolean;
  summary: string;
}

export interface PreDeployChecksResult extends CheckResult {
  /** Each check that ran, per service, with its output's tail; before production: tests, audit, outdated report. */
  checks: PreDeployCheck[];
}

export interface PreDeployChecksInput extends ServiceCommandsInput {
  environment: string;
  /** Before production: each service's `checks` (tests, audit, outdated report) besides its predeploy command. */
  production?: boolean;
}

export interface VerifyDeploymentInput {
  runId: string;
  /** The service just rolled out; its DATABASE_URL in this environment is passed in. */
  service: Pick<ServiceSettings, 'name' | 'database'> & EndpointService;
  environment: EndpointEnvironment & Pick<EnvironmentSettings, 'verification'>;
  /** Every service whose address the command gets (all configured ones, changed or not). */
  endpoints: EndpointService[];
  workspace: Workspace;
  command: string;
  /** Run before `command` (a fresh worktree has no dependencies): the service's `commands.setup`. */
  setup?: string;
}

/** Command names in a service's `commands` that these activities run. */
export const SETUP = 'setup';
export const TEST = 'test';
export const PREDEPLOY = 'predeploy';
export const PERF = 'perf';
/** The names `sandbox.network.commands` grants the network by, for verification and the production checks. */
export const VERIFY = 'verify';
export const AUDIT = 'audit';
export const OUTDATED = 'outdated';

export interface ServiceCommandsInput {
  runId: string;
  services: ServiceSettings[];
  workspace: Workspace;
}

const COMMAND_TIMEOUT_MS = 30 * 60_000;

/** The activity's cancellation, when running as one: cancelling the activity kills its sandbox. */
function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** `sandbox` is the worker's `sandbox:` section (bubblewrap with default limits when absent). */
export function createCommandActivities(deps: { logger: Logger; sandbox?: SandboxSettings }) {
  const sandbox = deps.sandbox ?? defaultSandboxSettings();

  /** One command line in the worktree, sandboxed, beating while it runs; `kind` names it to the network rule and the logs. */
  async function runOne(o: { kind: string; service: string; line: string; workspace: Workspace; env: Record<string, string>; timeoutMs?: number; outputCapBytes?: number }) {
    const signal = cancellation();
    const result = await whileHeartbeating(
      () =>
        runConfined(
          sandbox,
          {
            command: o.line,
            worktree: o.workspace.path,
            cwd: o.workspace.path,
            env: o.env,
            network: sandbox.network.commands.includes(o.kind),
            timeoutMs: o.timeoutMs ?? COMMAND_TIMEOUT_MS,
            outputCapBytes: o.outputCapBytes ?? 16 * 1024,
            ...(signal !== undefined ? { signal } : {}),
          },
          deps.logger,
        ),
      () => ({ service: o.service, kind: o.kind }),
    );
    const passed = !result.timedOut && result.error === undefined && result.code === 0;
    deps.logger.info({ service: o.service, kind: o.kind, passed, ms: result.ms }, 'service command finished');
    return { ...result, passed };
  }

  /** Before production, per service: setup once, then its tests, audit and outdated report. */
  async function productionChecks(service: ServiceSettings, input: PreDeployChecksInput): Promise<PreDeployCheck[]> {
    const env = { SLIPWAY_RUN: input.runId, SLIPWAY_ENVIRONMENT: input.environment };
    const planned = (
      [
        ['test', service.checks.test ?? service.commands[TEST]],
        ['audit', service.checks.audit],
        ['outdated', service.checks.outdated],
      ] as const
    ).flatMap(([check, command]) => (command !== undefined ? [{ check, command }] : []));
    if (planned.length === 0) return [];
    const record = (check: PreDeployCheck['check'], command: string, outcome: CommandOutcome & { ms: number }): PreDeployCheck => ({
      service: service.name,
      environment: input.environment,
      check,
      command,
      ...checkStatus(check, outcome, { auditUnavailable: service.checks.auditUnavailable, network: sandbox.network.commands.includes(check) }),
      exitCode: outcome.code,
      ms: outcome.ms,
      output: clipTail(outcome.output.trimEnd(), LIMITS.commandOutput),
    });
    const setup = service.commands[SETUP];
    if (setup !== undefined) {
      const installed = await runOne({ kind: SETUP, service: service.name, line: setup, workspace: input.workspace, env });
      // Without dependencies no check can say anything: each blocks with the setup's output.
      if (!installed.passed) return planned.map(({ check, command }) => ({ ...record(check, command, installed), status: check === 'outdated' ? 'report' : 'fail', reason: `setup \`${setup}\` ${ended(installed)}` }));
    }
    const checks: PreDeployCheck[] = [];
    for (const { check, command } of planned) checks.push(record(check, command, await runOne({ kind: check, service: service.name, line: command, workspace: input.workspace, env })));
    return checks;
  }

  /** Runs the named command of each service in the worktree, sandboxed; a service without one is reported, not failed. */
  async function runEach(kind: string, services: ServiceSettings[], workspace: Workspace, env: Record<string, string>): Promise<CheckResult> {
    const lines: string[] = [];
    let ok = true;
    for (const service of services) {
      const command = service.commands[kind];
      if (command === undefined) {
        lines.push(`${service.name}: no ${kind} command configured`);
        continue;
      }
      // A fresh worktree has no dependencies installed: the service's setup command comes first.
      const setup = service.commands[SETUP];
      const line = setup !== undefined && kind !== SETUP ? `(${setup}) && (${command})` : command;
      // Only command names the config lists get the network (e.g. a predeploy smoke test against dev).
      const result = await runOne({ kind, service: service.name, line, workspace, env, outputCapBytes: 8 * 1024 });
      ok &&= result.passed;
      const tail = result.passed ? '' : `\n${result.output.trimEnd().split('\n').slice(-15).map((l) => `    ${l}`).join('\n')}`;
      lines.push(`${service.name}: \`${command}\` ${ended(result)} after ${(result.ms / 1000).toFixed(1)} s${tail}`);
    }
    return { ok, summary: lines.join('\n') };
  }

  return {
    /** Each service's `test` command: how a person's committed work is checked before the run goes on. */
    async runServiceTests(input: ServiceCommandsInput): Promise<CheckResult> {
      return runEach(TEST, input.services, input.workspace, { SLIPWAY_RUN: input.runId });
    },
    /**
     * Each service's `predeploy` command (smoke tests, config checks) before an environment is
     * touched; before production also its `checks`: tests and audit block, the outdated report is
     * recorded for the production gate.
     */
    async runPreDeployChecks(input: PreDeployChecksInput): Promise<PreDeployChecksResult> {
      const predeploy = await runEach(PREDEPLOY, input.services, input.workspace, { SLIPWAY_RUN: input.runId, SLIPWAY_ENVIRONMENT: input.environment });
      if (input.production !== true) return { ...predeploy, checks: [] };
      const checks: PreDeployCheck[] = [];
      for (const service of input.services) checks.push(...(await productionChecks(service, input)));
      const lines = checks.map((c) => `${c.service}: ${c.check} \`${c.command}\` ${c.status === 'report' ? 'reported outdated dependencies' : c.status === 'pass' ? 'passed' : c.reason}${c.status === 'pass' ? '' : c.blocking ? ' (blocks production)' : ' (does not block)'} after ${(c.ms / 1000).toFixed(1)} s`);
      return { ok: predeploy.ok && !checks.some((c) => c.blocking && (c.status === 'fail' || c.status === 'unavailable')), summary: [predeploy.summary, ...lines].join('\n'), checks };
    },
    /**
     * A service's post-deploy verification in one environment: the command runs sandboxed in the
     * run's worktree against that environment, told where its services are (Kubernetes-style
     * variables), its namespace, and the service's DATABASE_URL. A failure is a result, not a throw.
     */
    async verifyDeployment(input: VerifyDeploymentInput): Promise<Verification> {
      const { service, environment } = input;
      const failed = (reason: string): Verification => ({ command: input.command, status: 'failed', reason });
      let endpoints;
      try {
        endpoints = await resolveEndpoints(environment, input.endpoints);
      } catch (err) {
        return failed((err as Error).message);
      }
      if (service.kubernetes !== undefined && !endpoints.has(service.name)) {
        return failed(`no address for ${service.name} in namespace ${environment.namespace}${environment.verification.endpoints.servicesFile ? ` (${environment.verification.endpoints.servicesFile})` : ''}`);
      }
      const urlEnv = service.database ? (service.database.urlEnvByEnvironment[environment.name] ?? service.database.urlEnv) : undefined;
      const databaseUrl = urlEnv !== undefined ? process.env[urlEnv] : undefined;
      // The database URL is a secret: passed to this command only, and never shown in its output.
      const secrets: Record<string, string> = databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {};
      const env = {
        ...endpointVariables(endpoints, input.endpoints),
        SLIPWAY_RUN: input.runId,
        SLIPWAY_ENVIRONMENT: environment.name,
        SLIPWAY_NAMESPACE: environment.namespace,
        SLIPWAY_SERVICE: service.name,
        ...secrets,
      };
      const line = input.setup !== undefined ? `(${input.setup}) && (${input.command})` : input.command;
      const result = await runOne({ kind: VERIFY, service: service.name, line, workspace: input.workspace, env, timeoutMs: environment.verification.timeout });
      const output = clipTail(redact(result.output, secrets).trimEnd(), LIMITS.commandOutput);
      return {
        command: input.command,
        status: result.passed ? 'passed' : 'failed',
        exitCode: result.code,
        ms: result.ms,
        output,
        ...(result.passed ? {} : { reason: `\`${input.command}\` ${ended(result)}` }),
      };
    },
    /** Each service's `perf` command, which compares against its baseline and fails on a regression. */
    async auditPerformance(input: ServiceCommandsInput): Promise<CheckResult> {
      return runEach(PERF, input.services, input.workspace, { SLIPWAY_RUN: input.runId });
    },
  };
}
export type CommandActivities = ReturnType<typeof createCommandActivities>;
