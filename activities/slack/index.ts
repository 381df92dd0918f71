import type { Logger } from 'pino';
import type { SlipwayConfig } from '../../config/schema';
import type { GateRecord } from '../../workflows/state';
import { adapterMissing } from '../missing';

export interface Delivery {
  delivered: boolean;
  /** Slack message timestamp, kept so a later update replaces the same message. */
  ts?: string;
  reason?: string;
}

/**
 * Notifications are best effort: the workflow never fails because one was not
 * delivered. Without a `slack` section in config there is nowhere to send them.
 */
export function createSlackActivities(deps: { config: SlipwayConfig; logger: Logger }) {
  const notConfigured = (kind: string, runId: string): Delivery => {
    deps.logger.info({ runId, kind }, 'notification not sent: no slack section in config');
    return { delivered: false, reason: 'slack is not configured' };
  };
  return {
    async notifyGate(input: { runId: string; feature: string; gate: GateRecord }): Promise<Delivery> {
      if (deps.config.slack === undefined) return notConfigured(`gate ${input.gate.name} ${input.gate.status}`, input.runId);
      adapterMissing('notifyGate', 'Slack messages (issue #7) are required');
    },
    async notifyMilestone(input: { runId: string; feature: string; text: string }): Promise<Delivery> {
      if (deps.config.slack === undefined) return notConfigured('milestone', input.runId);
      adapterMissing('notifyMilestone', 'Slack messages (issue #7) are required');
    },
  };
}
export type SlackActivities = ReturnType<typeof createSlackActivities>;
