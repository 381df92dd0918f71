import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { TokenUsage } from '../../workflows/state';
import { runWorkspaceTool, WORKSPACE_TOOLS, type ToolContext, type WorkspaceToolName } from './tools';

/** USD per million tokens, by model family; estimates for the run's cost, not a bill. */
const PRICES: { match: RegExp; input: number; output: number }[] = [
  { match: /opus/i, input: 15, output: 75 },
  { match: /haiku/i, input: 0.8, output: 4 },
];
/** Sonnet's price, for every other model. */
const DEFAULT_PRICE = { input: 3, output: 15 };

export function estimateCost(model: string, usage: Omit<TokenUsage, 'costUsd'>): number {
  const price = PRICES.find((p) => p.match.test(model)) ?? DEFAULT_PRICE;
  const perToken = (dollarsPerMillion: number) => dollarsPerMillion / 1_000_000;
  return (
    usage.inputTokens * perToken(price.input) +
    usage.outputTokens * perToken(price.output) +
    usage.cacheWriteTokens * perToken(price.input * 1.25) +
    usage.cacheReadTokens * perToken(price.input * 0.1)
  );
}

export interface Role<T> {
  name: string;
  system: string;
  /** What the final `submit_result` call must contain. */
  result: z.ZodType<T>;
  tools: WorkspaceToolName[];
  /** Checks on the workspace before a result is accepted (e.g. "spec.md exists"); a message is shown to the model. */
  accept?: (result: T) => Promise<string | undefined>;
}

export interface AgentLimits {
  model: string;
  maxTurns: number;
  /** Tokens (input + output) this run may still spend. */
  tokensLeft: number;
  maxOutputTokens: number;
  /** Told at the start of each model turn (for heartbeat details). */
  onTurn?: (turn: number) => void;
}

export interface AgentOutcome<T> {
  result: T;
  usage: TokenUsage;
  turns: number;
}

const SUBMIT = 'submit_result';

/**
 * A tool-use loop: the model works with the workspace tools until it calls `submit_result`
 * with a result that validates. Bounded by turns and the run's token budget; retries of HTTP
 * errors are the SDK's. Failures no retry can fix are non-retryable ApplicationFailures.
 */
export async function runAgent<T>(client: Anthropic, role: Role<T>, prompt: string, ctx: ToolContext, limits: AgentLimits): Promise<AgentOutcome<T>> {
  const usage: TokenUsage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 };
  const tools: Anthropic.Tool[] = [
    ...role.tools.map((name) => ({
      name,
      description: WORKSPACE_TOOLS[name].description,
      input_schema: z.toJSONSchema(WORKSPACE_TOOLS[name].input) as Anthropic.Tool.InputSchema,
    })),
    {
      name: SUBMIT,
      description: `Finish: submit the ${role.name}'s result. Call it once the work is done.`,
      input_schema: z.toJSONSchema(role.result) as Anthropic.Tool.InputSchema,
      // The system prompt and the tools are the same every turn: cache them.
      cache_control: { type: 'ephemeral' },
    },
  ];
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: prompt }];

  for (let turn = 1; turn <= limits.maxTurns; turn++) {
    limits.onTurn?.(turn);
    const response = await call(() =>
      client.messages
        .stream({
          model: limits.model,
          max_tokens: limits.maxOutputTokens,
          system: [{ type: 'text', text: role.system, cache_control: { type: 'ephemeral' } }],
          tools,
          messages,
        })
        .finalMessage(),
    );
    usage.inputTokens += response.usage.input_tokens;
    usage.outputTokens += response.usage.output_tokens;
    usage.cacheReadTokens += response.usage.cache_read_input_tokens ?? 0;
    usage.cacheWriteTokens += response.usage.cache_creation_input_tokens ?? 0;
    usage.costUsd = estimateCost(limits.model, usage);
    const spent = usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
    if (spent > limits.tokensLeft) {
      throw ApplicationFailure.create({
        message: `the ${role.name} spent ${spent} tokens, over what the run's token budget had left (${limits.tokensLeft})`,
        type: 'TokenBudgetExhausted',
        nonRetryable: true,
        details: [usage],
      });
    }

    if (response.stop_reason === 'max_tokens') {
      // A cut-off tool call is unusable: keep the text, ask for the rest.
      const complete = response.content.filter((block) => block.type !== 'tool_use');
      if (complete.length > 0) messages.push({ role: 'assistant', content: complete });
      messages.push({ role: 'user', content: `Your reply was cut off at ${limits.maxOutputTokens} tokens. Continue with smaller steps; finish with ${SUBMIT}.` });
      continue;
    }
    messages.push({ role: 'assistant', content: response.content });
    const calls = response.content.filter((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use');
    if (calls.length === 0) {
      messages.push({ role: 'user', content: `Use the tools to do the work, then call ${SUBMIT}.` });
      continue;
    }
    const results: Anthropic.ToolResultBlockParam[] = [];
    for (const toolCall of calls) {
      if (toolCall.name === SUBMIT) {
        const parsed = role.result.safeParse(toolCall.input);
        const problem = parsed.success ? await role.accept?.(parsed.data) : `the result does not match its schema: ${z.prettifyError(parsed.error)}`;
        if (parsed.success && problem === undefined) return { result: parsed.data, usage, turns: turn };
        results.push({ type: 'tool_result', tool_use_id: toolCall.id, is_error: true, content: problem ?? 'invalid result' });
        continue;
      }
      const outcome = await runWorkspaceTool(ctx, toolCall.name, toolCall.input);
      results.push({ type: 'tool_result', tool_use_id: toolCall.id, content: outcome.text, ...(outcome.ok ? {} : { is_error: true }) });
    }
    messages.push({ role: 'user', content: results });
  }
  throw ApplicationFailure.create({
    message: `the ${role.name} did not finish within ${limits.maxTurns} turns`,
    type: 'AgentTurnLimit',
    nonRetryable: true,
    details: [usage],
  });
}

/** Anthropic errors the SDK could not retry away, as Temporal failures. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Anthropic.AuthenticationError || err instanceof Anthropic.PermissionDeniedError) {
      throw ApplicationFailure.nonRetryable(`the Anthropic API refused the credentials (${err.status}): check ANTHROPIC_API_KEY`, 'LlmAuthFailed');
    }
    if (err instanceof Anthropic.BadRequestError || err instanceof Anthropic.NotFoundError) {
      throw ApplicationFailure.nonRetryable(`the Anthropic API rejected the request (${err.status}): ${err.message}`, 'LlmRequestRejected');
    }
    if (err instanceof Anthropic.APIError) {
      throw ApplicationFailure.retryable(`the Anthropic API failed (${err.status ?? 'no response'}): ${err.message}`, 'LlmUnavailable');
    }
    throw err;
  }
}
