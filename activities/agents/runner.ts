import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { defaultSandboxSettings, type SandboxSettings } from '../../config/sandbox';
import type { LlmSettings, RepositorySettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { whileHeartbeating } from '../heartbeat';
import { configuredWorktreePaths, verifiedGitDirHint } from '../repo/git';
import { commitPaths } from '../repo/workspace';
import { requireSandbox } from '../sandbox/status';
import { runAgent, type AgentOutcome, type Role } from './runtime';
import type { ToolContext } from './tools';

/** Every agent input carries what the run has spent so far, against the run's token budget. */
export interface Budgeted {
  tokensUsed?: number;
}

export interface AgentCall extends Budgeted {
  runId: string;
  workspace: Workspace;
  repository: RepositorySettings;
  llm: LlmSettings;
}

/** Agents exist only with an `llm` section: say so, non-retryably. */
export function requireLlm<T extends { llm?: LlmSettings }>(input: T, activity: string, role: string): T & { llm: LlmSettings } {
  if (input.llm === undefined) {
    throw ApplicationFailure.nonRetryable(`${activity} needs an llm section in config: the ${role} is an LLM agent`, 'LlmNotConfigured');
  }
  return input as T & { llm: LlmSettings };
}

/** Worktree paths the repository's git config points to; the agents' tools never write them. */
async function protectedPaths(workspace: Workspace): Promise<string[]> {
  const gitDir = workspace.gitDir ?? (await verifiedGitDirHint(workspace.path));
  return (await configuredWorktreePaths({ gitDir, worktree: workspace.path })).map((p) => p.path);
}

export type RunRole = <T>(role: Role<T>, prompt: string, call: AgentCall, commands: string[], commitMessage: string) => Promise<AgentOutcome<T>>;

/**
 * Runs a role in the run's workspace with the run's model and limits, its commands confined by
 * the worker's sandbox, heartbeating on a timer the whole time (a slow streamed answer never
 * times the activity out), then commits (and pushes) what it wrote.
 */
export function createRoleRunner(deps: { sandbox?: SandboxSettings; logger?: Logger }): RunRole {
  const sandbox = deps.sandbox ?? defaultSandboxSettings();
  return async function runRole<T>(role: Role<T>, prompt: string, call: AgentCall, commands: string[], commitMessage: string): Promise<AgentOutcome<T>> {
    const { llm, workspace, repository } = call;
    const apiKey = process.env[llm.apiKeyEnv];
    if (!apiKey) throw ApplicationFailure.nonRetryable(`${llm.apiKeyEnv} is not set: the agents cannot call the Anthropic API`, 'LlmNotConfigured');
    // No sandbox, no run: checked before the model spends a token.
    await requireSandbox(sandbox, deps.logger, `the ${role.name} of run ${call.runId}`);
    const client = new Anthropic({ apiKey, ...(llm.baseUrl ? { baseURL: llm.baseUrl } : {}), maxRetries: 3, timeout: 10 * 60_000 });
    const ctx: ToolContext = {
      root: workspace.path,
      maxFileBytes: 256 * 1024,
      commands,
      commandTimeoutMs: 10 * 60_000,
      outputCapBytes: 16 * 1024,
      sandbox,
      protectedPaths: await protectedPaths(workspace),
      ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
      commit: (message) => commitPaths(workspace, ['.'], `${message}\n\nRun ${call.runId}.`, repository.remote),
    };
    let turn = 0;
    const outcome = await whileHeartbeating(
      () =>
        runAgent(client, role, prompt, ctx, {
          model: llm.model,
          maxTurns: llm.maxTurns,
          tokensLeft: llm.tokenBudget - (call.tokensUsed ?? 0),
          maxOutputTokens: 8192,
          onTurn: (n) => (turn = n),
        }),
      () => ({ role: role.name, turn }),
    );
    await commitPaths(workspace, ['.'], `${commitMessage}\n\nRun ${call.runId}; written by the ${role.name} (${llm.model}).`, repository.remote);
    return outcome;
  };
}
