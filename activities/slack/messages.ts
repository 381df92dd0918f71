/** Block Kit messages for gates and milestones. Pure functions: what a person sees in Slack. */
import type { KnownBlock, ModalView } from '@slack/web-api';
import { progressOf, type GateRecord } from '../../workflows/state';

export const ACTION_APPROVE = 'slipway_gate_approve';
export const ACTION_REJECT = 'slipway_gate_reject';
export const REJECT_MODAL = 'slipway_gate_reject_modal';
export const COMMENT_BLOCK = 'comment';
export const COMMENT_INPUT = 'comment_input';

/** What a button carries back: enough to find the gate, never a secret. */
export interface GateButtonValue {
  runId: string;
  gate: string;
  round: number;
}

const text = (t: string) => ({ type: 'mrkdwn' as const, text: t });
const plain = (t: string) => ({ type: 'plain_text' as const, text: t });
const truncate = (t: string, max: number) => (t.length > max ? `${t.slice(0, max - 1)}…` : t);

export function gateBlocks(input: { runId: string; feature: string; gate: GateRecord; runUrl?: string }): { text: string; blocks: KnownBlock[] } {
  const { gate } = input;
  const title = `Gate *${gate.name}* (round ${gate.round}) for “${truncate(input.feature, 150)}”`;
  const blocks: KnownBlock[] = [
    { type: 'section', text: text(title) },
    { type: 'section', text: text(truncate(gate.summary || '(nothing to summarise)', 2900)) },
    {
      type: 'context',
      elements: [
        text(`Run \`${input.runId}\`${input.runUrl ? ` · <${input.runUrl}|open in Temporal>` : ''}`),
        text(gate.approvers.length > 0 ? `Approvers: ${gate.approvers.join(', ')}` : 'Any approver may decide'),
        text(`Deadline: ${gate.deadlineAt}`),
      ],
    },
  ];
  if (gate.status === 'pending' && gate.approvalsRequired !== undefined) {
    const comments = (gate.approvedBy ?? []).filter((a) => a.comment).map((a) => `${a.by}: ${truncate(a.comment ?? '', 300)}`);
    blocks.push({ type: 'section', text: text(`:ballot_box_with_check: ${progressOf(gate)}${comments.length > 0 ? `\n${comments.join('\n')}` : ''}`) });
  }
  if (gate.status === 'pending') {
    const value = JSON.stringify({ runId: input.runId, gate: gate.name, round: gate.round } satisfies GateButtonValue);
    blocks.push({
      type: 'actions',
      block_id: 'gate_actions',
      elements: [
        { type: 'button', action_id: ACTION_APPROVE, style: 'primary' as const, text: plain('Approve'), value },
        { type: 'button', action_id: ACTION_REJECT, style: 'danger' as const, text: plain('Reject…'), value },
      ],
    });
  } else {
    blocks.push({ type: 'section', text: text(outcomeLine(gate)) });
  }
  return { text: `${title}: ${gate.status}`, blocks };
}

export function outcomeLine(gate: GateRecord): string {
  switch (gate.status) {
    case 'approved':
      return `:white_check_mark: Approved by *${gate.decidedBy}* at ${gate.decidedAt}${gate.comment ? `: ${gate.comment}` : ''}`;
    case 'rejected':
      return `:x: Rejected by *${gate.decidedBy}* at ${gate.decidedAt}: ${gate.comment ?? ''}`;
    case 'expired':
      return `:hourglass: Expired at ${gate.deadlineAt} with no decision`;
    case 'closed':
      return `:no_entry: Closed at ${gate.decidedAt}: the run ended (${gate.comment ?? 'no reason given'})`;
    default:
      return 'Waiting for a decision';
  }
}

export function rejectModal(value: GateButtonValue): ModalView {
  return {
    type: 'modal',
    callback_id: REJECT_MODAL,
    private_metadata: JSON.stringify({ runId: value.runId, gate: value.gate, round: value.round } satisfies GateButtonValue),
    title: plain('Reject gate'),
    submit: plain('Reject'),
    close: plain('Cancel'),
    blocks: [
      { type: 'section', text: text(`Rejecting gate *${value.gate}* of run \`${value.runId}\`. Say what to change.`) },
      {
        type: 'input',
        block_id: COMMENT_BLOCK,
        label: plain('Comment'),
        element: { type: 'plain_text_input', action_id: COMMENT_INPUT, multiline: true, min_length: 1, max_length: 3000 },
      },
    ],
  };
}
