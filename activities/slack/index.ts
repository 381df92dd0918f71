import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode, WebClient, type WebAPICallResult } from '@slack/web-api';
import type { Logger } from 'pino';
import type { SlipwayConfig } from '../../config/schema';

export type SlackSettings = NonNullable<SlipwayConfig['slack']>;
import type { GateRecord, SlackMessageRef } from '../../workflows/state';
import { gateBlocks } from './messages';

export interface Delivery {
  delivered: boolean;
  /** The message posted or updated, kept so later updates replace it. */
  message?: SlackMessageRef;
  reason?: string;
}

/** Slack errors that no retry can fix. */
const PERMANENT = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'channel_not_found', 'not_in_channel', 'is_archived', 'missing_scope', 'invalid_blocks', 'msg_too_long']);

/**
 * Notifications are best effort: the workflow never fails because one was not
 * delivered. Without a `slack` section in config there is nowhere to send them.
 * Transient Slack errors are thrown for Temporal to retry; permanent ones are non-retryable.
 */
export function createSlackActivities(deps: { logger: Logger; slack?: SlackSettings; temporalUiUrl?: string; namespace: string }) {
  const slack = deps.slack;
  const runUrl = (runId: string) =>
    deps.temporalUiUrl ? `${deps.temporalUiUrl.replace(/\/$/, '')}/namespaces/${deps.namespace}/workflows/${encodeURIComponent(runId)}` : undefined;
  const client = (): WebClient => {
    if (slack === undefined) throw new Error('unreachable: slack is not configured');
    const token = process.env[slack.tokenEnv];
    if (!token) throw ApplicationFailure.nonRetryable(`Slack is configured but ${slack.tokenEnv} is not set`, 'SlackNotConfigured');
    // Retries belong to Temporal's activity retry policy, not to the client.
    return new WebClient(token, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 10_000 });
  };
  const call = async <T extends WebAPICallResult>(what: string, runId: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const slackError = code === ErrorCode.PlatformError ? String((err as { data?: { error?: string } }).data?.error) : undefined;
      deps.logger.warn({ runId, what, code, slackError }, 'slack call failed');
      if (slackError !== undefined && PERMANENT.has(slackError)) {
        throw ApplicationFailure.nonRetryable(`Slack ${what} failed: ${slackError}`, 'SlackPermanentError');
      }
      throw ApplicationFailure.retryable(`Slack ${what} failed: ${slackError ?? (err as Error).message}`, 'SlackUnavailable');
    }
  };
  const skipped = (kind: string, runId: string): Delivery => {
    deps.logger.info({ runId, kind }, 'notification not sent: no slack section in config');
    return { delivered: false, reason: 'slack is not configured' };
  };

  return {
    /** Posts the gate's message with Approve / Reject buttons, or replaces it once the gate is decided. */
    async notifyGate(input: { runId: string; feature: string; gate: GateRecord }): Promise<Delivery> {
      if (slack === undefined) return skipped(`gate ${input.gate.name} ${input.gate.status}`, input.runId);
      const url = runUrl(input.runId);
      const body = gateBlocks({ runId: input.runId, feature: input.feature, gate: input.gate, ...(url ? { runUrl: url } : {}) });
      const web = client();
      if (input.gate.message !== undefined) {
        const { channel, ts } = input.gate.message;
        await call('chat.update', input.runId, () => web.chat.update({ channel, ts, text: body.text, blocks: body.blocks }));
        return { delivered: true, message: { channel, ts } };
      }
      const posted = await call('chat.postMessage', input.runId, () => web.chat.postMessage({ channel: slack.channel, text: body.text, blocks: body.blocks }));
      return { delivered: true, message: { channel: posted.channel ?? slack.channel, ts: posted.ts ?? '' } };
    },

    /** A run milestone, as a reply in the run's thread (or as the thread's first message). */
    async notifyMilestone(input: { runId: string; feature: string; text: string; thread?: SlackMessageRef }): Promise<Delivery> {
      if (slack === undefined) return skipped('milestone', input.runId);
      const web = client();
      const text = input.thread ? input.text : `${input.text}\nRun \`${input.runId}\`: ${input.feature}`;
      const posted = await call('chat.postMessage', input.runId, () =>
        web.chat.postMessage({ channel: input.thread?.channel ?? slack.channel, text, ...(input.thread ? { thread_ts: input.thread.ts } : {}) }),
      );
      return { delivered: true, message: input.thread ?? { channel: posted.channel ?? slack.channel, ts: posted.ts ?? '' } };
    },
  };
}
export type SlackActivities = ReturnType<typeof createSlackActivities>;
