import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { WebClient } from '@slack/web-api';
import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ACTION_APPROVE, ACTION_REJECT, COMMENT_BLOCK, COMMENT_INPUT, REJECT_MODAL, rejectModal, type GateButtonValue } from '../../activities/slack/messages';
import type { SlipwayConfig } from '../../config/schema';
import { decideUpdate, DecisionRejection, type DecisionV1 } from '../../workflows/messages';
import { verifySlackRequest } from '../slackSignature';

export interface SlackRouteDeps {
  client: Client;
  config: SlipwayConfig;
  /** From the environment variable config names; absent means the endpoint answers 503. */
  signingSecret?: string;
  botToken?: string;
  now?: () => number;
}

/** Slack waits three seconds; keep a margin for the answer itself. */
const DECISION_BUDGET_MS = 2_500;

const buttonValue = z.object({ runId: z.string().min(1), gate: z.string().min(1), round: z.number().int().positive() });

const interaction = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('block_actions'),
    user: z.object({ id: z.string() }),
    trigger_id: z.string().optional(),
    response_url: z.string().optional(),
    actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
  }),
  z.object({
    type: z.literal('view_submission'),
    user: z.object({ id: z.string() }),
    view: z.object({
      callback_id: z.string(),
      private_metadata: z.string(),
      state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }))) }),
    }),
  }),
]);

type Outcome = { ok: true } | { ok: false; message: string; type?: string };

export const slackRoutes = (deps: SlackRouteDeps): FastifyPluginAsyncZod =>
  async function routes(app) {
    // Slack signs the raw form body: keep it as a string and parse it only after verifying.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_req, body, done) => done(null, body));
    const approverOf = (slackUser: string) => deps.config.approvers.find((a) => a.slackUserId === slackUser)?.id;
    const now = deps.now ?? (() => Math.floor(Date.now() / 1000));

    const decide = async (value: GateButtonValue, decision: DecisionV1): Promise<Outcome> => {
      try {
        await deps.client.withDeadline(Date.now() + DECISION_BUDGET_MS, () =>
          deps.client.workflow.getHandle(value.runId).executeUpdate(decideUpdate, { args: [decision] }),
        );
        return { ok: true };
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
          return { ok: false, message: err.cause.message, ...(err.cause.type ? { type: err.cause.type } : {}) };
        }
        app.log.warn({ err, runId: value.runId }, 'slack decision did not land');
        return { ok: false, message: `Slipway could not record the decision in time (${(err as Error).message}); check the run before trying again.` };
      }
    };

    app.post(
      '/slack/interactions',
      { schema: { summary: 'Slack interactivity: gate buttons and the reject modal (signed by Slack)', body: z.string() } },
      async (request, reply) => {
        if (!deps.signingSecret) {
          return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'Slack interactions are not configured: no slack section, or its signing secret variable is unset' });
        }
        const raw = request.body;
        const problem = verifySlackRequest({
          secret: deps.signingSecret,
          timestamp: header(request.headers['x-slack-request-timestamp']),
          signature: header(request.headers['x-slack-signature']),
          rawBody: raw,
          nowSeconds: now(),
        });
        if (problem !== undefined) {
          request.log.warn({ problem }, 'refused slack request');
          return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: problem });
        }
        let payload: z.infer<typeof interaction>;
        try {
          payload = interaction.parse(JSON.parse(new URLSearchParams(raw).get('payload') ?? ''));
        } catch {
          // Signed, but not an interaction Slipway handles (shortcuts, other apps' actions): acknowledge.
          return reply.code(200).send();
        }

        const approver = approverOf(payload.user.id);
        if (payload.type === 'block_actions') {
          const action = payload.actions[0];
          const value = buttonValue.safeParse(safeJson(action?.value));
          if (action === undefined || !value.success || ![ACTION_APPROVE, ACTION_REJECT].includes(action.action_id)) return reply.code(200).send();
          const ephemeral = (text: string) => respond(request.log, payload.type === 'block_actions' ? payload.response_url : undefined, text);
          if (approver === undefined) {
            await ephemeral(`You may not approve this gate: your Slack user is not mapped to a Slipway approver.`);
            return reply.code(200).send();
          }
          if (action.action_id === ACTION_APPROVE) {
            const outcome = await decide(value.data, { gate: value.data.gate, decision: 'approve', approver, via: 'slack', round: value.data.round });
            if (!outcome.ok) await ephemeral(explain(outcome));
            return reply.code(200).send();
          }
          // Reject: ask for the comment in a modal; the decision comes with its submission.
          if (!deps.botToken || !payload.trigger_id) {
            await ephemeral('Slipway cannot open the reject dialog (no bot token); reject through the API instead.');
            return reply.code(200).send();
          }
          try {
            const web = new WebClient(deps.botToken, { slackApiUrl: deps.config.slack?.apiUrl, retryConfig: { retries: 0 }, timeout: 2_000 });
            await web.views.open({ trigger_id: payload.trigger_id, view: rejectModal(value.data) });
          } catch (err) {
            request.log.warn({ err }, 'views.open failed');
            await ephemeral('Slipway could not open the reject dialog; try again, or reject through the API.');
          }
          return reply.code(200).send();
        }

        if (payload.view.callback_id !== REJECT_MODAL) return reply.code(200).send();
        const value = buttonValue.safeParse(safeJson(payload.view.private_metadata));
        if (!value.success) return reply.code(200).send();
        const fieldError = (message: string) => reply.code(200).send({ response_action: 'errors', errors: { [COMMENT_BLOCK]: message } });
        if (approver === undefined) return fieldError('You may not reject this gate: your Slack user is not mapped to a Slipway approver.');
        const comment = payload.view.state.values[COMMENT_BLOCK]?.[COMMENT_INPUT]?.value?.trim() ?? '';
        const outcome = await decide(value.data, { gate: value.data.gate, decision: 'reject', approver, comment, via: 'slack', round: value.data.round });
        return outcome.ok ? reply.code(200).send() : fieldError(explain(outcome));
      },
    );
  };

function explain(outcome: Extract<Outcome, { ok: false }>): string {
  switch (outcome.type) {
    case DecisionRejection.ApproverNotAllowed:
    case DecisionRejection.FourEyes:
      return `You may not approve this gate: ${outcome.message}`;
    case DecisionRejection.GateNotPending:
      return `Already decided: ${outcome.message}`;
    case DecisionRejection.AlreadyApproved:
      return `You already approved this gate: ${outcome.message}`;
    default:
      return outcome.message;
  }
}

/** An ephemeral reply to the clicking user, through the interaction's response_url. */
async function respond(log: FastifyBaseLogger, responseUrl: string | undefined, text: string): Promise<void> {
  if (!responseUrl) return;
  try {
    await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
      signal: AbortSignal.timeout(1_500),
    });
  } catch (err) {
    log.warn({ err }, 'slack response_url failed');
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function safeJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
