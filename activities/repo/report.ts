/** The final run report: what was delivered, who approved what, the soak evidence, the cost. Pure. */
import type { RunState } from '../../workflows/state';

const table = (head: string[], rows: string[][]) =>
  rows.length === 0 ? '_none_\n' : [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`)].join('\n') + '\n';

/** `sandbox: 'none'` (commands ran unconfined) is said at the top of the report. */
export function runReport(state: RunState, worker: { sandbox: 'bubblewrap' | 'none' } = { sandbox: 'bubblewrap' }): string {
  const cost = state.cost.total;
  return [
    `# Run report: ${state.feature}`,
    '',
    `- Run: \`${state.runId}\``,
    `- Requested by: ${state.requester}`,
    `- Status: **${state.status}**${state.reason ? ` — ${state.reason}` : ''}`,
    `- Branch: \`${state.workspace?.branch ?? '?'}\``,
    `- Services: ${state.services.join(', ') || '_none_'}`,
    `- Started: ${state.startedAt}${state.endedAt ? `, ended: ${state.endedAt}` : ''}`,
    ...(worker.sandbox === 'none' ? ['- **Sandbox: none** — commands from the branch ran as Slipway\'s own user, with its network (config `sandbox.mode: none`)'] : []),
    '',
    '## Approvals',
    '',
    table(['gate', 'round', 'decision', 'by', 'at', 'comment'], state.approvals.map((a) => [a.gate, String(a.round), a.decision, a.by, a.at, a.comment ?? ''])),
    '## Deployments',
    '',
    table(
      ['service', 'environment', 'status', 'revision', 'image', 'migrations', 'soak'],
      state.rollouts.map((r) => [r.service, r.environment, r.status, r.deployment ? String(r.deployment.revision) : '', r.deployment?.image ?? '', r.migrations.join(', '), r.soak ? `${r.soak.decision}, ${r.soak.samples} samples${r.soak.last ? `: ${r.soak.last.detail}` : ''}` : '']),
    ),
    '## Artifacts',
    '',
    table(['phase', 'kind', 'path'], state.artifacts.map((a) => [a.phase, a.kind, a.path])),
    '## Compensations',
    '',
    table(['step', 'status'], state.compensations.map((c) => [c.name, c.status])),
    '## Cost',
    '',
    `${cost.inputTokens} input, ${cost.outputTokens} output, ${cost.cacheReadTokens} cache-read and ${cost.cacheWriteTokens} cache-write tokens; about $${cost.costUsd.toFixed(2)}.`,
    '',
    '## Timeline',
    '',
    ...state.timeline.map((e) => `- ${e.at} · ${e.phase} · ${e.event}${e.detail ? ` — ${e.detail.split('\n')[0]}` : ''}`),
    '',
  ].join('\n');
}
