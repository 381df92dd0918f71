/**
 * A run's progress as terminal lines, from its RunState alone: `slipway status` and `slipway watch`
 * draw it, and so can anything else that shows a run (the demo). Pure: no clock, no terminal.
 */
import type { FreezeReply, RunReply } from '../api/schemas';
import { progressOf, type AnalysisSummary, type GateRecord, type RolloutSummary, type RunState, type RunStatus } from '../workflows/state';
import type { DeliveredRollbackState } from '../workflows/rollbackState';

export interface RenderOptions {
  /** Timeline events to show, the newest last; 0 shows none. Default 5. */
  timeline?: number;
  /** Lines of a pending gate's summary (what it asks) to show. Default 6. */
  gateSummaryLines?: number;
  /** Show the commands that decide a pending gate. Default true. */
  hints?: boolean;
  /** Cut every line to this many columns (a live redraw needs one row per line). */
  width?: number;
  /** ANSI colours. Default false. */
  color?: boolean;
  /** Block characters and marks (█ ░ ✓ ✗); false for plain ASCII. Default true. */
  unicode?: boolean;
  /** Width of a soak's progress bar, in characters. Default 20. */
  barWidth?: number;
  /** For a running run's elapsed time; without it only an ended run shows its duration. */
  now?: Date;
  /** Times in UTC instead of the local zone (stable output for tests and logs). */
  utc?: boolean;
}

const ESC = '\u001b[';

interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

function styleFor(color: boolean): Style {
  const wrap = (open: number, close: number) => (text: string) => (color ? `${ESC}${open}m${text}${ESC}${close}m` : text);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39) };
}

const MARKS = {
  unicode: { ok: '✓', bad: '✗', live: '●', wait: '…', unsure: '?', here: '▶', full: '█', empty: '░', sep: '·', dash: '—' },
  ascii: { ok: '+', bad: 'x', live: '*', wait: '.', unsure: '?', here: '>', full: '#', empty: '-', sep: '|', dash: '-' },
};
type Marks = (typeof MARKS)['unicode'];

/** Text from the API on one line, without control characters (no escape sequence reaches the terminal). */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** `[██████░░░░] 6/10`: how far a soak or watch is. */
export function progressBar(done: number, total: number, width = 20, unicode = true): string {
  const marks = unicode ? MARKS.unicode : MARKS.ascii;
  const filled = total > 0 ? Math.round((width * Math.min(Math.max(done, 0), total)) / total) : 0;
  return `[${marks.full.repeat(filled)}${marks.empty.repeat(width - filled)}] ${done}/${total}`;
}

export function formatRatio(ratio: number): string {
  const percent = ratio * 100;
  return `${percent.toFixed(percent !== 0 && Math.abs(percent) < 1 ? 2 : 1)}%`;
}

export function formatSeconds(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)}ms` : `${seconds.toFixed(2)}s`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** HH:MM:SS of an ISO time. */
export function formatClock(iso: string, utc = false): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return oneLine(iso);
  const parts = utc ? [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()] : [date.getHours(), date.getMinutes(), date.getSeconds()];
  return parts.map((n) => String(n).padStart(2, '0')).join(':');
}

/** `YYYY-MM-DD HH:MM` of an ISO time. */
export function formatDateTime(iso: string, utc = false): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return oneLine(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  const [y, mo, day, h, mi] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes()];
  return `${y}-${pad(mo)}-${pad(day)} ${pad(h)}:${pad(mi)}`;
}

/** `sha256:0123456789ab` from an image reference or a digest; undefined when it holds none. */
export function shortDigest(reference: string | undefined): string | undefined {
  const match = reference === undefined ? null : /sha256:([0-9a-f]{12})/.exec(reference);
  return match ? `sha256:${match[1]}` : undefined;
}

/** Cuts a line to `width` visible columns, keeping colour sequences intact. */
export function fitLine(line: string, width: number): string {
  let visible = 0;
  let out = '';
  let coloured = false;
  // eslint-disable-next-line no-control-regex -- matching our own SGR sequences
  const tokens = line.match(/\u001b\[[0-9;]*m|[^\u001b]/gu) ?? [];
  const total = tokens.filter((t) => !t.startsWith('\u001b')).length;
  if (total <= width) return line;
  for (const token of tokens) {
    if (token.startsWith('\u001b')) {
      out += token;
      coloured = true;
      continue;
    }
    if (visible === width - 1) break;
    out += token;
    visible++;
  }
  return `${out}…${coloured ? `${ESC}0m` : ''}`;
}

function statusText(status: RunStatus, style: Style, marks: Marks): string {
  switch (status) {
    case 'succeeded':
      return style.green(`${marks.ok} succeeded`);
    case 'failed':
      return style.red(`${marks.bad} failed`);
    case 'rolled-back':
      return style.red(`${marks.bad} rolled back`);
    case 'cancelled':
      return style.yellow(`${marks.bad} cancelled`);
    case 'awaiting-approval':
      return style.yellow(`${marks.wait} awaiting approval`);
    case 'running':
      return style.cyan(`${marks.live} running`);
  }
}

/** What `slipway approve`/`reject` says it did; an approval that leaves the gate waiting for others says how far it has got. */
export function decisionLine(runId: string, decision: 'approve' | 'reject', gate: GateRecord): string {
  const which = `gate ${gate.name} (round ${gate.round}) of ${runId}`;
  if (decision === 'approve' && gate.status === 'pending') return `approval recorded on ${which}: ${oneLine(progressOf(gate))}; it waits for the others`;
  return `${decision === 'approve' ? 'approved' : 'rejected'} ${which} as ${oneLine(gate.decidedBy ?? '?')}`;
}

function gateMark(gate: GateRecord, style: Style, marks: Marks): string {
  const by = gate.decidedBy ? ` ${oneLine(gate.decidedBy)}` : '';
  switch (gate.status) {
    case 'approved':
      return `${gate.name} ${style.green(marks.ok)}${by}`;
    case 'rejected':
      return `${gate.name} ${style.red(marks.bad)}${by}`;
    case 'pending':
      return `${gate.name} ${style.yellow(`${marks.wait} pending`)}`;
    case 'expired':
      return `${gate.name} ${style.red(`${marks.bad} expired`)}`;
    case 'closed':
      return `${gate.name} ${style.dim('closed')}`;
  }
}

/** `soak [███░░] 3/4  passed  err 0.10%  p99 120ms` */
export function renderAnalysis(analysis: AnalysisSummary, options: Pick<RenderOptions, 'barWidth' | 'unicode' | 'color'> = {}): string {
  const style = styleFor(options.color ?? false);
  const parts = [analysis.kind, progressBar(analysis.samples, analysis.planned, options.barWidth ?? 20, options.unicode ?? true)];
  if (analysis.decision === 'passed') parts.push(style.green('passed'));
  else if (analysis.decision === 'failed') parts.push(style.red('failed'));
  else if (analysis.decision === 'inconclusive') parts.push(style.yellow('inconclusive'));
  const last = analysis.last;
  if (last?.errorRatio !== undefined) parts.push(`err ${formatRatio(last.errorRatio)}`);
  if (last?.p99Seconds !== undefined) parts.push(`p99 ${formatSeconds(last.p99Seconds)}`);
  if (analysis.failing > 0) parts.push(style.red(`${analysis.failing} failing`));
  return parts.join('  ');
}

/** The watch's own checks of its last sample on a line of their own: `mem +0.40%/h  db conn 1.0×  db query 1.1×`. */
export function watchFacts(analysis: AnalysisSummary): string {
  const last = analysis.last;
  if (last === undefined) return '';
  const parts: string[] = [];
  if (last.memoryGrowthPerHour !== undefined) parts.push(`mem ${last.memoryGrowthPerHour >= 0 ? '+' : ''}${formatRatio(last.memoryGrowthPerHour)}/h`);
  if (last.dbConnectionsRatio !== undefined) parts.push(`db conn ${last.dbConnectionsRatio.toFixed(1)}×`);
  if (last.dbQueryTimeRatio !== undefined) parts.push(`db query ${last.dbQueryTimeRatio.toFixed(1)}×`);
  return parts.join('  ');
}

function rolloutStep(rollout: RolloutSummary, style: Style, marks: Marks, width: number): string {
  // Padded before colouring, so columns line up whatever the colour.
  const pad = (text: string) => text.padEnd(width);
  switch (rollout.status) {
    case 'succeeded':
      return style.green(pad(`${marks.ok} done`));
    case 'failed':
      return style.red(pad(`${marks.bad} ${rollout.step === 'rolling-back' ? 'rolling back' : 'failed'}`));
    case 'inconclusive':
      return style.yellow(pad(`${marks.unsure} inconclusive`));
    case 'running':
      return style.cyan(pad(`${marks.live} ${rollout.step ?? 'starting'}`));
  }
}

/** The lines that show a run: header, gates, what a pending gate asks, rollouts and soaks, rollback, timeline. */
export function renderRun(state: RunState & Pick<RunReply, 'rollback'>, options: RenderOptions = {}): string[] {
  const style = styleFor(options.color ?? false);
  const marks = options.unicode === false ? MARKS.ascii : MARKS.unicode;
  const utc = options.utc ?? false;
  const lines: string[] = [];

  const ended = state.endedAt !== undefined ? new Date(state.endedAt) : undefined;
  const until = ended ?? options.now;
  const elapsed = until !== undefined ? formatDuration(until.getTime() - new Date(state.startedAt).getTime()) : undefined;
  lines.push(`${style.bold(state.runId)}  ${statusText(state.status, style, marks)}`);
  lines.push(`  ${oneLine(state.feature)}`);
  const facts = [
    `phase ${style.bold(state.phase)}${state.environment ? ` (${oneLine(state.environment)})` : ''}`,
    `requested by ${oneLine(state.requester)}`,
    `started ${formatClock(state.startedAt, utc)}${elapsed !== undefined ? `, ${ended ? 'took' : 'for'} ${elapsed}` : ''}`,
    ...(state.cost.total.costUsd > 0 ? [`$${state.cost.total.costUsd.toFixed(2)}`] : []),
  ];
  lines.push(`  ${facts.join(` ${marks.sep} `)}`);
  if (state.reason !== undefined) {
    const paint = state.status === 'cancelled' ? style.yellow : style.red;
    lines.push(`  ${paint(`reason: ${oneLine(state.reason)}`)}`);
  }

  const { rollback } = state;
  if (rollback !== undefined) {
    lines.push(`  ${style.yellow(`rollback ${oneLine(rollback.status)}`)}${rollback.requester ? ` (asked by ${oneLine(rollback.requester)})` : ''}: slipway rollback ${oneLine(state.runId)} --status`);
  }

  const gates = Object.values(state.gates);
  if (gates.length > 0) lines.push(`  gates  ${gates.map((g) => gateMark(g, style, marks)).join(` ${marks.sep} `)}`);

  for (const gate of gates.filter((g) => g.status === 'pending')) {
    const who = gate.approvers.length > 0 ? `approvers: ${gate.approvers.map(oneLine).join(', ')}` : 'any approver';
    // Above one approval the requester never counts, four-eyes or not.
    const fourEyes = gate.fourEyes || gate.approvalsRequired !== undefined ? `, not ${oneLine(state.requester)} (four-eyes)` : '';
    const round = gate.round > 1 ? ` (round ${gate.round})` : '';
    const left = options.now !== undefined ? ` (in ${formatDuration(new Date(gate.deadlineAt).getTime() - options.now.getTime())})` : '';
    const progress = gate.approvalsRequired !== undefined ? `${oneLine(progressOf(gate))}; ` : '';
    lines.push(`  ${style.yellow(marks.here)} ${style.bold(`gate ${gate.name}${round} is waiting`)} ${marks.dash} ${progress}${who}${fourEyes}; expires ${formatDateTime(gate.deadlineAt, utc)}${left}`);
    const asks = gate.summary.split('\n').map(oneLine).filter(Boolean);
    const shown = asks.slice(0, options.gateSummaryLines ?? 6);
    for (const line of shown) lines.push(`      ${line}`);
    if (asks.length > shown.length) lines.push(style.dim(`      ${marks.wait} ${asks.length - shown.length} more line(s): slipway status ${state.runId}`));
    if (options.hints ?? true) {
      if (gate.personStep) {
        lines.push(`      when it is committed: ${style.bold(`slipway approve ${state.runId} ${gate.name}`)}`);
      } else {
        lines.push(`      approve: ${style.bold(`slipway approve ${state.runId} ${gate.name}`)} [-m "comment"]`);
        lines.push(`      reject:  ${style.bold(`slipway reject ${state.runId} ${gate.name}`)} -m "what to change"`);
        if (gate.overrideBy !== undefined && gate.overrideBy.length > 0) {
          lines.push(`      override (${gate.overrideBy.map(oneLine).join(', ')} only): slipway approve ${state.runId} ${gate.name} --override -m "why it cannot wait"`);
        }
      }
    }
  }

  if (state.frozen !== undefined) {
    lines.push(`  ${style.yellow(marks.here)} ${style.bold(`${oneLine(state.frozen.service)} to production is held`)} ${marks.dash} ${oneLine(state.frozen.detail)}`);
    const left = state.frozen.until !== undefined && options.now !== undefined ? ` (in ${formatDuration(new Date(state.frozen.until).getTime() - options.now.getTime())})` : '';
    if (state.frozen.until !== undefined) lines.push(`      the window closes ${formatDateTime(state.frozen.until, utc)}${left}; the rollout then starts by itself`);
    if (options.hints ?? true) {
      if (state.frozen.by !== undefined) lines.push(`      lifts with: ${style.bold('slipway unfreeze')} (approvers)`);
      lines.push(`      emergency:  ${style.bold(`slipway override-freeze ${state.runId}`)} -m "why it cannot wait" (an approver, not ${oneLine(state.requester)})`);
    }
  }
  if (state.freezeOverride !== undefined) lines.push(style.yellow(`  production freeze overridden by ${oneLine(state.freezeOverride.by)}: ${oneLine(state.freezeOverride.comment)}`));

  const analysisOptions = { color: options.color ?? false, unicode: options.unicode ?? true, barWidth: options.barWidth ?? 20 };
  if (state.rollouts.length > 0) {
    lines.push('  rollouts');
    const environmentWidth = Math.max(...state.rollouts.map((r) => r.environment.length));
    const serviceWidth = Math.max(...state.rollouts.map((r) => r.service.length));
    // Grouped by environment, in the order the run reached them.
    const environments = [...new Set(state.rollouts.map((r) => r.environment))];
    for (const environment of environments) {
      state.rollouts
        .filter((r) => r.environment === environment)
        .forEach((rollout, index) => {
          const digest = shortDigest(rollout.deployment?.image) ?? shortDigest(state.images.find((i) => i.service === rollout.service)?.digest);
          const facts = [...(rollout.deployment ? [`rev ${rollout.deployment.revision}`] : []), ...(digest !== undefined ? [digest] : [])];
          // Every line names its environment, so a line printed alone (watch in a log) still says where.
          const where = `${(index === 0 ? (s: string) => s : style.dim)(oneLine(environment).padEnd(environmentWidth))}  ${oneLine(rollout.service).padEnd(serviceWidth)}`;
          lines.push(`    ${where}  ${[rolloutStep(rollout, style, marks, facts.length > 0 ? 15 : 0), ...facts].join('  ')}`);
          // The soak on a line of its own keeps 80 columns; its service and environment keep it unique in a log.
          if (rollout.soak !== undefined) lines.push(`      ${renderAnalysis(rollout.soak, analysisOptions)}  ${style.dim(`(${oneLine(rollout.service)}, ${oneLine(environment)})`)}`);
          if (rollout.reason !== undefined && rollout.status !== 'succeeded') lines.push(`      ${style.red(oneLine(rollout.reason))}`);
        });
    }
  }

  if (state.watches.length > 0) {
    lines.push('  post-deploy watch');
    const serviceWidth = Math.max(...state.watches.map((w) => w.service.length));
    for (const watch of state.watches) {
      lines.push(`    ${oneLine(watch.environment)}  ${oneLine(watch.service).padEnd(serviceWidth)}  ${renderAnalysis(watch.analysis, analysisOptions)}`);
      const own = watchFacts(watch.analysis);
      if (own !== '') lines.push(`      ${own}  ${style.dim(`(${oneLine(watch.service)})`)}`);
      if (watch.reason !== undefined && watch.status !== 'succeeded') lines.push(`      ${style.red(oneLine(watch.reason))}`);
    }
  }

  if (state.compensations.length > 0) {
    if (state.compensations.every((c) => c.status === 'armed')) {
      lines.push(style.dim(`  compensations: ${state.compensations.length} armed (undone in reverse if the run fails)`));
    } else {
      lines.push('  compensations');
      for (const c of state.compensations) {
        const mark = c.status === 'done' ? style.green(`${marks.ok} done  `) : c.status === 'failed' ? style.red(`${marks.bad} failed`) : style.dim(`${marks.wait} armed `);
        lines.push(`    ${mark}  ${oneLine(c.name)}${c.error ? style.red(` ${marks.dash} ${oneLine(c.error)}`) : ''}`);
      }
    }
  }

  const count = options.timeline ?? 5;
  if (count > 0 && state.timeline.length > 0) {
    const shown = state.timeline.slice(-count);
    const earlier = state.timeline.length - shown.length + state.timelineDropped;
    lines.push(`  timeline${earlier > 0 ? style.dim(` (${earlier} earlier)`) : ''}`);
    for (const event of shown) {
      lines.push(`    ${style.dim(formatClock(event.at, utc))}  ${event.phase.padEnd(13)} ${oneLine(event.event)}${event.detail ? style.dim(` ${marks.dash} ${oneLine(event.detail)}`) : ''}`);
    }
  }

  return options.width !== undefined ? lines.map((line) => fitLine(line, options.width as number)) : lines;
}

/** `slipway freeze --status` (and the answer to freeze and unfreeze): by hand, windows, who waits. */
export function renderFreeze(freeze: FreezeReply, options: Pick<RenderOptions, 'utc' | 'color'> = {}): string[] {
  const style = styleFor(options.color ?? false);
  const utc = options.utc ?? false;
  const lines = [freeze.frozen ? style.yellow(style.bold('production is frozen')) : style.green('production is not frozen')];
  if (freeze.manual !== undefined) lines.push(`  by ${oneLine(freeze.manual.by)} since ${formatDateTime(freeze.manual.at, utc)}: ${oneLine(freeze.manual.reason)}`);
  if (freeze.windows.length > 0) {
    const names = freeze.windows.map((w) => `${oneLine(w.name)} (${oneLine(w.timeZone)}${w.reason !== undefined ? `, ${oneLine(w.reason)}` : ''})`).join(', ');
    lines.push(`  window ${names}${freeze.windowsUntil !== undefined ? ` until ${formatDateTime(freeze.windowsUntil, utc)}` : ''}`);
  }
  if (freeze.waitingRuns.length > 0) lines.push(`  held: ${freeze.waitingRuns.map(oneLine).join(', ')}`);
  if (freeze.stale) lines.push(style.dim('  (no worker answered: from the freeze\'s last published state, without its history)'));
  const recent = freeze.history.slice(-5);
  if (recent.length > 0) {
    lines.push('  history');
    for (const event of recent) lines.push(`    ${formatDateTime(event.at, utc)}  ${event.action.padEnd(8)} ${oneLine(event.by)}${event.reason !== undefined ? `: ${oneLine(event.reason)}` : ''}`);
  }
  return lines;
}

/** A delivered run's later rollback: where it stands, its gate, each step, and what it overrides. */
export function renderRollback(rollback: DeliveredRollbackState & { stale?: boolean }, options: Pick<RenderOptions, 'utc' | 'color'> = {}): string[] {
  const style = styleFor(options.color ?? false);
  const utc = options.utc ?? false;
  const colour = rollback.status === 'rolled-back' ? style.green : ['refused', 'failed', 'rejected', 'expired', 'cancelled'].includes(rollback.status) ? style.red : style.yellow;
  const lines = [
    `${style.bold(`rollback of ${oneLine(rollback.runId)}`)}  ${colour(rollback.status)}`,
    `  asked by ${oneLine(rollback.requester)} at ${formatDateTime(rollback.startedAt, utc)}: ${oneLine(rollback.reason)}`,
  ];
  if (rollback.forced !== undefined) lines.push(style.yellow(`  forced: ${oneLine(rollback.forced.comment)}`));
  const gate = rollback.gates.rollback;
  if (gate?.status === 'pending') {
    lines.push(`  waiting for approval until ${formatDateTime(gate.deadlineAt, utc)}${gate.approvalsRequired !== undefined ? ` (${progressOf(gate)})` : ''}`);
    lines.push(`    approve: slipway approve ${oneLine(rollback.rollbackId)} rollback   (an approver other than ${oneLine(rollback.requester)})`);
    lines.push(`    reject:  slipway reject ${oneLine(rollback.rollbackId)} rollback -m "why"`);
  } else if (gate?.decidedBy !== undefined) {
    lines.push(`  gate ${gate.status} by ${oneLine(gate.decidedBy)}${gate.comment ? `: ${oneLine(gate.comment)}` : ''}`);
  }
  if (rollback.steps.length > 0) lines.push('  steps, in order');
  rollback.steps.forEach((step, i) => {
    const mark = step.status === 'done' ? style.green(step.already ? 'already undone' : 'done') : step.status === 'failed' ? style.red('FAILED') : style.dim('pending');
    lines.push(`    ${i + 1}. ${oneLine(step.environment)}/${oneLine(step.service)}: ${oneLine(step.detail)}  ${mark}${step.error ? ` ${oneLine(step.error)}` : ''}`);
  });
  if (rollback.conflicts.length > 0) {
    lines.push(rollback.forced !== undefined ? '  later changes it overrides' : '  later changes found');
    for (const c of rollback.conflicts) {
      lines.push(`    ${oneLine(c.environment)}/${oneLine(c.service)}: ${oneLine(c.detail)}`);
      if (rollback.forced !== undefined) lines.push(`      loses: ${oneLine(c.loses)}`);
    }
  }
  if (rollback.outcome !== undefined) lines.push(`  ${oneLine(rollback.outcome)}`);
  if (rollback.recordPath !== undefined) lines.push(`  record: ${oneLine(rollback.recordPath)} on ${oneLine(rollback.branch)}`);
  if (rollback.stale) lines.push(style.dim("  (no worker answered: from the rollback's last published state)"));
  return lines;
}
