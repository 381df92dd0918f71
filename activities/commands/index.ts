import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { defaultSandboxSettings, type SandboxSettings } from '../../config/sandbox';
import type { ServiceSettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { whileHeartbeating } from '../heartbeat';
import { runConfined } from '../sandbox/confined';

export interface CheckResult {
  ok: boolean;
  summary: string;
}

/** Command names in a service's `commands` that these activities run. */
export const SETUP = 'setup';
export const TEST = 'test';
export const PREDEPLOY = 'predeploy';
export const PERF = 'perf';

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
      const signal = cancellation();
      // Beats on a timer while the child runs (sandboxed or not), so a long test suite never times the activity out.
      const result = await whileHeartbeating(() => runConfined(
        sandbox,
        {
          command: line,
          worktree: workspace.path,
          cwd: workspace.path,
          env,
          // Only command names the config lists get the network (e.g. a predeploy smoke test against dev).
          network: sandbox.network.commands.includes(kind),
          timeoutMs: COMMAND_TIMEOUT_MS,
          outputCapBytes: 8 * 1024,
          ...(signal !== undefined ? { signal } : {}),
        },
        deps.logger,
      ), () => ({ service: service.name, kind }));
      const passed = !result.timedOut && result.error === undefined && result.code === 0;
      ok &&= passed;
      const tail = passed ? '' : `\n${result.output.trimEnd().split('\n').slice(-15).map((l) => `    ${l}`).join('\n')}`;
      const ended = result.timedOut ? 'timed out' : result.error !== undefined ? `did not complete (${result.error})` : `exited ${result.code}`;
      lines.push(`${service.name}: \`${command}\` ${ended} after ${(result.ms / 1000).toFixed(1)} s${tail}`);
      deps.logger.info({ service: service.name, kind, passed, ms: result.ms }, 'service command finished');
    }
    return { ok, summary: lines.join('\n') };
  }

  return {
    /** Each service's `test` command: how a person's committed work is checked before the run goes on. */
    async runServiceTests(input: ServiceCommandsInput): Promise<CheckResult> {
      return runEach(TEST, input.services, input.workspace, { SLIPWAY_RUN: input.runId });
    },
    /** Each service's `predeploy` command (smoke tests, config checks) before an environment is touched. */
    async runPreDeployChecks(input: ServiceCommandsInput & { environment: string }): Promise<CheckResult> {
      return runEach(PREDEPLOY, input.services, input.workspace, { SLIPWAY_RUN: input.runId, SLIPWAY_ENVIRONMENT: input.environment });
    },
    /** Each service's `perf` command, which compares against its baseline and fails on a regression. */
    async auditPerformance(input: ServiceCommandsInput): Promise<CheckResult> {
      return runEach(PERF, input.services, input.workspace, { SLIPWAY_RUN: input.runId });
    },
  };
}
export type CommandActivities = ReturnType<typeof createCommandActivities>;
