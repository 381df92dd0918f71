import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { SlipwayConfig } from '../../config/schema';
import type { Workspace } from '../agents';
import { heartbeatIfActivity } from '../heartbeat';
import { runShell } from './shell';

export interface CheckResult {
  ok: boolean;
  summary: string;
}

/** Command names in a service's `commands` that these activities run. */
export const PREDEPLOY = 'predeploy';
export const PERF = 'perf';

export function createCommandActivities(deps: { config: SlipwayConfig; logger: Logger }) {
  const { config } = deps;

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
      const result = await runShell(command, { cwd: workspace.path, timeoutMs: 20 * 60_000, outputCapBytes: 8 * 1024, env });
      const passed = !result.timedOut && result.code === 0;
      ok &&= passed;
      const tail = passed ? '' : `\n${result.output.trimEnd().split('\n').slice(-15).map((l) => `    ${l}`).join('\n')}`;
      lines.push(`${name}: \`${command}\` ${result.timedOut ? 'timed out' : `exited ${result.code}`} after ${(result.ms / 1000).toFixed(1)} s${tail}`);
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
