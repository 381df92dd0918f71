import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { Context } from '@temporalio/activity';
import { defaultSandboxSettings, type SandboxSettings } from '../../config/sandbox';
import type { SlipwayConfig } from '../../config/schema';
import type { Workspace } from '../agents';
import { heartbeatIfActivity } from '../heartbeat';
import { runConfined } from '../sandbox/confined';

export interface CheckResult {
  ok: boolean;
  summary: string;
}

/** Command names in a service's `commands` that these activities run. */
export const PREDEPLOY = 'predeploy';
export const PERF = 'perf';

/** The activity's cancellation, when running as one: cancelling the activity kills its sandbox. */
function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** `sandbox` is config's `sandbox:` section (bubblewrap with default limits when absent). */
export function createCommandActivities(deps: { config: SlipwayConfig; logger: Logger; sandbox?: SandboxSettings }) {
  const { config } = deps;
  const sandbox = deps.sandbox ?? defaultSandboxSettings();

  /** Runs the named command of each service in the worktree; a service without one is reported, not failed. */
  async function runEach(kind: string, services: string[], workspace: Workspace, env: Record<string, string>): Promise<CheckResult> {
    const lines: string[] = [];
    let ok = true;
    for (const name of services) {
      const service = config.services.find((s) => s.name === name);
      if (service === undefined) throw ApplicationFailure.nonRetryable(`service ${name} is not in the config`, 'UnknownService');
      const command = service.commands[kind];
      if (command === undefined) {
        lines.push(`${name}: no ${kind} command configured`);
        continue;
      }
      heartbeatIfActivity({ service: name, kind });
      const signal = cancellation();
      const result = await runConfined(
        sandbox,
        {
          command,
          worktree: workspace.path,
          cwd: workspace.path,
          env,
          // Only command names the config lists get the network (e.g. a predeploy smoke test against dev).
          network: sandbox.network.commands.includes(kind),
          timeoutMs: 20 * 60_000,
          outputCapBytes: 8 * 1024,
          onHeartbeat: (elapsedMs) => heartbeatIfActivity({ service: name, kind, elapsedMs }),
          ...(signal !== undefined ? { signal } : {}),
        },
        deps.logger,
      );
      const passed = !result.timedOut && result.error === undefined && result.code === 0;
      ok &&= passed;
      const tail = passed ? '' : `\n${result.output.trimEnd().split('\n').slice(-15).map((l) => `    ${l}`).join('\n')}`;
      const ended = result.timedOut ? 'timed out' : result.error !== undefined ? `did not complete (${result.error})` : `exited ${result.code}`;
      lines.push(`${name}: \`${command}\` ${ended} after ${(result.ms / 1000).toFixed(1)} s${tail}`);
    }
    return { ok, summary: lines.join('\n') };
  }

  return {
    /** Each service's `predeploy` command (smoke tests, config checks) before an environment is touched. */
    async runPreDeployChecks(input: { runId: string; environment: string; services: string[]; workspace: Workspace }): Promise<CheckResult> {
      return runEach(PREDEPLOY, input.services, input.workspace, { SLIPWAY_RUN: input.runId, SLIPWAY_ENVIRONMENT: input.environment });
    },
    /** Each service's `perf` command, which compares against its baseline and fails on a regression. */
    async auditPerformance(input: { runId: string; services: string[]; workspace: Workspace }): Promise<CheckResult> {
      return runEach(PERF, input.services, input.workspace, { SLIPWAY_RUN: input.runId });
    },
  };
}
export type CommandActivities = ReturnType<typeof createCommandActivities>;
