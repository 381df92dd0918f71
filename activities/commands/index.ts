import type { Logger } from 'pino';
import type { ServiceSettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { whileHeartbeating } from '../heartbeat';
import { runShell } from './shell';

export interface CheckResult {
  ok: boolean;
  summary: string;
}

/** Command names in a service's `commands` that these activities run. */
export const TEST = 'test';
export const PREDEPLOY = 'predeploy';
export const PERF = 'perf';

export interface ServiceCommandsInput {
  runId: string;
  services: ServiceSettings[];
  workspace: Workspace;
}

const COMMAND_TIMEOUT_MS = 30 * 60_000;

export function createCommandActivities(deps: { logger: Logger }) {
  /** Runs the named command of each service in the worktree; a service without one is reported, not failed. */
  async function runEach(kind: string, services: ServiceSettings[], workspace: Workspace, env: Record<string, string>): Promise<CheckResult> {
    const lines: string[] = [];
    let ok = true;
    for (const service of services) {
      const command = service.commands[kind];
      if (command === undefined) {
        lines.push(`${service.name}: no ${kind} command configured`);
        continue;
      }
      const result = await whileHeartbeating(
        () => runShell(command, { cwd: workspace.path, timeoutMs: COMMAND_TIMEOUT_MS, outputCapBytes: 8 * 1024, env }),
        () => ({ service: service.name, kind }),
      );
      const passed = !result.timedOut && result.code === 0;
      ok &&= passed;
      const tail = passed ? '' : `\n${result.output.trimEnd().split('\n').slice(-15).map((l) => `    ${l}`).join('\n')}`;
      lines.push(`${service.name}: \`${command}\` ${result.timedOut ? 'timed out' : `exited ${result.code}`} after ${(result.ms / 1000).toFixed(1)} s${tail}`);
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
