import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EnvironmentSettings, GateRule, RunSettings, ServiceSettings } from '../config/settings';
import { productionOf } from '../config/settings';
import { git, notifications } from './activities';
import { failureReason, rootApplicationFailure } from './failures';
import { FreezeGuard } from './freezeGuard';
import { Gates } from './gates';
import { cancelRequestSignal, REPORT_MEMO, reportQuery, RUN_MEMO, statusQuery, type CancelRequestV1 } from './messages';
import { boundedReport, buildReport, reportSettingsOf, type ReportFacts, type RunReport } from './report';
import { Saga } from './saga';
import { SlipwayPhase, SlipwayServices, SlipwayStatus } from './search-attributes';
import {
  addUsage,
  clip,
  emptyUsage,
  initialRunState,
  LIMITS,
  progressOf,
  TERMINAL_STATUSES,
  type GateRecord,
  type Phase,
  type RunState,
  type SlackMessageRef,
  type TokenUsage,
  type Workspace,
} from './state';

export interface FeatureDeliveryInputV1 {
  feature: string;
  /** Identity that started the run; the four-eyes rule keeps it from approving production. */
  requester: string;
  /** Services the requester named; empty lets the plan decide. */
  services: string[];
  /** Everything the run acts on, resolved from config when it started. */
  settings: RunSettings;
}

/** The report copy in the memo stays this small (JSON bytes); the branch's report.md has it all. */
const REPORT_MEMO_BYTES = 16_000;

/** How often a gate may be rejected (or a person's step found incomplete) before the run gives up. */
const MAX_REVISIONS = 5;
const MAX_PERSON_ROUNDS = 20;

/** Patch: the run's status turns final after its report is on the branch, not before. */
const STATUS_AFTER_REPORT = 'status-after-report';

export interface GateSpec {
  name: string;
  rule: GateRule;
  fourEyes?: boolean;
  /** A rejection sends the comments back to `produce` for another round; otherwise it ends the run. */
  revisable: boolean;
}

/**
 * What the phases of one run share: its state and settings, the timeline, gates, the saga,
 * publishing to the Temporal UI, and notifications. Phases receive it; none of this lives in
 * closures of the workflow function.
 */
export class Run {
  readonly state: RunState;
  readonly settings: RunSettings;
  readonly gates: Gates;
  readonly saga: Saga;
  /** Holds production rollouts while production is frozen. */
  readonly freeze: FreezeGuard;
  /** The services the plan chose, in rollout order (set by the architect phase). */
  services: ServiceSettings[] = [];
  private cancelRequest: CancelRequestV1 | undefined;
  /** Notifications sent without holding the run up; settled before the run ends. */
  private readonly background: Promise<unknown>[] = [];
  /** Phases that failed after the release was live and healthy; they fail the run but roll nothing back. */
  private readonly postDeployFailures: string[] = [];
  private readonly published = { phase: '', status: '', services: '', memo: '' };
  /** What writeReport read from the branch at the run's end; the report is computed from it and the state. */
  private reportFacts: ReportFacts | undefined;

  constructor(readonly input: FeatureDeliveryInputV1) {
    this.settings = input.settings;
    this.state = initialRunState({
      runId: workflowInfo().workflowId,
      feature: input.feature,
      requester: input.requester,
      services: input.services,
      mode: input.settings.llm !== undefined ? 'agents' : 'person',
      startedAt: new Date().toISOString(),
    });
    this.gates = new Gates(this.state, () => this.publish());
    this.saga = new Saga(this.state.compensations, (record) => log.error('compensation failed', { compensation: record.name, error: record.error }));
    this.listen();
    this.freeze = new FreezeGuard(this);
    this.publish();
    this.event('run', 'started', `requested by ${input.requester}`);
  }

  get runId(): string {
    return this.state.runId;
  }

  get feature(): string {
    return this.state.feature;
  }

  get workspace(): Workspace {
    if (this.state.workspace === undefined) throw ApplicationFailure.nonRetryable('the run has no workspace yet', 'NoWorkspace');
    return this.state.workspace;
  }

  get production(): EnvironmentSettings {
    return productionOf(this.settings);
  }

  /** Tokens the run has spent so far, which the agents hold against the run's budget. */
  get tokensUsed(): number {
    const t = this.state.cost.total;
    return t.inputTokens + t.outputTokens + t.cacheReadTokens + t.cacheWriteTokens;
  }

  /** What every activity acting in the run's worktree needs. */
  get inWorkspace(): { runId: string; workspace: Workspace; repository: RunSettings['repository'] } {
    return { runId: this.runId, workspace: this.workspace, repository: this.settings.repository };
  }

  private listen(): void {
    setHandler(statusQuery, () => this.state);
    setHandler(reportQuery, () => this.report());
    this.gates.listen((reason) => this.event('run', 'decision signal ignored', reason));
    setHandler(cancelRequestSignal, (request) => {
      this.cancelRequest = request;
    });
  }

  /** Makes the run readable in the Temporal UI: search attributes and current details. */
  publish(): void {
    const { state } = this;
    const phaseLabel = state.phase === 'deploy' && state.environment ? `deploy:${state.environment}` : state.phase;
    const services = state.services.join(',');
    const updates = [];
    if (this.published.phase !== phaseLabel) updates.push({ key: SlipwayPhase, value: phaseLabel });
    if (this.published.status !== state.status) updates.push({ key: SlipwayStatus, value: state.status });
    if (this.published.services !== services) updates.push({ key: SlipwayServices, value: [...state.services] });
    if (updates.length > 0) upsertSearchAttributes(updates);
    Object.assign(this.published, { phase: phaseLabel, status: state.status, services });
    setCurrentDetails(currentDetails(state));
    // A copy the API can read without a worker (GET /runs/:id under load, GET /runs): only when it changed.
    const memo = memoOf(state);
    // The final report too, once written, so GET /runs/:id/report answers for ended runs without a worker.
    const report = this.reportFacts !== undefined ? boundedReport(this.report(), REPORT_MEMO_BYTES) : undefined;
    const text = JSON.stringify([memo, report]);
    if (text !== this.published.memo) {
      this.published.memo = text;
      upsertMemo({ [RUN_MEMO]: { ...memo, asOf: new Date().toISOString() }, ...(report !== undefined ? { [REPORT_MEMO]: report } : {}) });
    }
  }

  /** The summary report as the run stands: a pure function of its state, its settings and the facts read from its branch. */
  report(): RunReport {
    return buildReport(this.state, this.reportFacts, reportSettingsOf(this.settings));
  }

  /** Writes the report on the branch, as the run ends (`ending`), and keeps the facts it read there. */
  private async writeReport(ending: Pick<RunState, 'status' | 'reason'>): Promise<void> {
    const written = await git.writeReport({ ...this.inWorkspace, state: { ...this.state, ...ending }, settings: reportSettingsOf(this.settings) });
    // An activity from before reports carried facts answers with the path alone.
    if ((written as Partial<typeof written>).facts !== undefined) this.reportFacts = written.facts;
    this.artifact('report', 'report', written.path);
  }

  /** A line in the run's timeline; the oldest lines go once it is full. */
  event(phase: Phase | 'run', what: string, detail?: string): void {
    const { timeline } = this.state;
    timeline.push({ at: new Date().toISOString(), phase, event: what, ...(detail !== undefined ? { detail: clip(detail, LIMITS.detail) } : {}) });
    if (timeline.length > LIMITS.timeline) {
      timeline.splice(0, timeline.length - LIMITS.timeline);
      this.state.timelineDropped++;
    }
  }

  enter(phase: Phase, environment?: string): void {
    this.state.phase = phase;
    if (environment !== undefined) this.state.environment = environment;
    else delete this.state.environment;
    this.state.status = 'running';
    this.event(phase, environment !== undefined ? `started (${environment})` : 'started');
    this.publish();
  }

  artifact(phase: Phase, kind: string, path: string, service?: string): void {
    const { artifacts } = this.state;
    if (artifacts.some((a) => a.path === path) || artifacts.length >= LIMITS.artifacts) return;
    artifacts.push({ phase, kind, path, ...(service !== undefined ? { service } : {}) });
  }

  recordUsage(phase: Phase, usage: TokenUsage | undefined): void {
    if (usage === undefined) return;
    addUsage(this.state.cost.total, usage);
    addUsage((this.state.cost.byPhase[phase] ??= emptyUsage()), usage);
  }

  /** Best effort: a notification that cannot be delivered is noted, never fatal. */
  async notify(send: () => Promise<{ delivered: boolean; message?: SlackMessageRef }>): Promise<SlackMessageRef | undefined> {
    try {
      const message = (await send()).message;
      // The run's first message becomes the thread its milestones reply in.
      if (message !== undefined && this.state.slackThread === undefined) this.state.slackThread = message;
      return message;
    } catch (err) {
      this.event(this.state.phase, 'notification failed', failureReason(err));
      return undefined;
    }
  }

  milestone(text: string): Promise<SlackMessageRef | undefined> {
    return this.notify(() => notifications.notifyMilestone({ runId: this.runId, feature: this.feature, text, ...(this.state.slackThread ? { thread: this.state.slackThread } : {}) }));
  }

  /** Tells people about a gate (or its new state) without holding the run up when it is decided. */
  private announce(record: GateRecord, inBackground: boolean): Promise<SlackMessageRef | undefined> {
    const send = this.notify(() => notifications.notifyGate({ runId: this.runId, feature: this.feature, gate: { ...record } }));
    if (inBackground) this.background.push(send);
    return send;
  }

  /** Waits for a decision on an opened gate, keeping status, timeline and people up to date. */
  private async decision(record: GateRecord): Promise<{ approved: true } | { approved: false; comment: string }> {
    if (record.status === 'pending') {
      this.state.status = 'awaiting-approval';
      this.event(this.state.phase, `gate ${record.name} opened`, `round ${record.round}`);
      this.publish();
      const message = await this.announce(record, false);
      if (message !== undefined) record.message = message;
    }
    // A gate that needs several approvals updates its message after each; in order, so "1 of 2" never lands after "approved".
    let messageUpdates: Promise<unknown> = Promise.resolve();
    const updateMessage = (snapshot: GateRecord) => {
      messageUpdates = messageUpdates.then(() => this.announce(snapshot, false));
      this.background.push(messageUpdates);
    };
    let outcome;
    try {
      outcome = await this.gates.wait(record, (progress) => {
        this.event(this.state.phase, `gate ${progress.name} approved by ${progress.approvedBy?.at(-1)?.by ?? 'someone'}`, progressOf(progress));
        this.publish();
        updateMessage({ ...progress, approvedBy: [...(progress.approvedBy ?? [])] });
      });
    } finally {
      // A gate still pending here means the run is ending; conclude() closes it.
      if (record.decidedBy !== 'policy' && record.status !== 'pending') {
        if (record.approvalsRequired !== undefined) updateMessage({ ...record, approvedBy: [...(record.approvedBy ?? [])] });
        else void this.announce(record, true);
      }
    }
    this.state.status = 'running';
    this.event(this.state.phase, `gate ${record.name} ${record.status}`, record.decidedBy !== undefined ? `by ${record.decidedBy}` : undefined);
    this.publish();
    return outcome.approved ? { approved: true } : { approved: false, comment: outcome.comment };
  }

  /**
   * Produces something for review, opens the gate, and waits. A rejection sends the
   * reviewer's comments back to `produce` for another round, when the gate allows it.
   */
  async gated<T>(gate: GateSpec, produce: (comments: string[]) => Promise<{ result: T; summary: string; needsPerson?: boolean }>): Promise<T> {
    const comments: string[] = [];
    for (;;) {
      const { result, summary, needsPerson } = await produce(comments);
      // What was produced can demand a person even where config would let policy approve.
      const rule = needsPerson ? { ...gate.rule, required: true } : gate.rule;
      const record = this.gates.open({ name: gate.name, rule, summary, fourEyes: gate.fourEyes ?? false }, new Date());
      const outcome = await this.decision(record);
      if (outcome.approved) return result;
      if (!gate.revisable) {
        throw ApplicationFailure.nonRetryable(`gate "${gate.name}" rejected by ${record.decidedBy}: ${outcome.comment}`, 'GateRejected');
      }
      comments.push(outcome.comment);
      if (comments.length >= MAX_REVISIONS) {
        throw ApplicationFailure.nonRetryable(`gate "${gate.name}" rejected ${comments.length} times; giving up`, 'GateRejected');
      }
    }
  }

  /**
   * A person's step (no LLM configured): the gate says what to write and where; approving it says
   * the work is committed. Slipway then checks the work; problems reopen the gate with the
   * reasons, a rejection reopens it with the reviewer's comments. Always waits for a person.
   */
  async personStep<T>(gate: { name: string; rule: GateRule }, instructions: string, check: () => Promise<{ ok: boolean; problems: string[]; result?: T }>): Promise<T> {
    const rule = { ...gate.rule, required: true };
    let record = this.gates.open({ name: gate.name, rule, summary: instructions, personStep: true }, new Date());
    for (let round = 1; ; round++) {
      if (round > MAX_PERSON_ROUNDS) throw ApplicationFailure.nonRetryable(`gate "${gate.name}" reopened ${MAX_PERSON_ROUNDS} times; giving up`, 'GateRejected');
      const outcome = await this.decision(record);
      if (!outcome.approved) {
        record = this.gates.open({ name: gate.name, rule, summary: `Rejected by ${record.decidedBy}: ${outcome.comment}\n\n${instructions}`, personStep: true }, new Date());
        continue;
      }
      const checked = await check();
      if (checked.ok && checked.result !== undefined) return checked.result;
      this.event(this.state.phase, `gate ${gate.name} reopened`, checked.problems.join('; '));
      record = this.gates.reopen(record, checked.problems.length > 0 ? checked.problems : ['nothing to read back'], instructions, new Date());
    }
  }

  /**
   * After the release is live and healthy, a failing phase is recorded and the run ends failed,
   * but nothing is rolled back for it (only the post-deploy watch, which is about health, can).
   */
  async afterDelivery(phase: Phase, work: () => Promise<void>): Promise<void> {
    this.enter(phase);
    try {
      await work();
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.postDeployFailures.push(`${phase}: ${failureReason(err)}`);
      this.event(phase, 'failed; the delivery stays in place', failureReason(err));
    }
  }

  /** The run's end after delivery: the report, with the final status, and the outcome. */
  async finish(): Promise<RunState> {
    const { state } = this;
    this.enter('report');
    const outcome = (): Pick<RunState, 'status' | 'reason'> =>
      this.postDeployFailures.length === 0 ? { status: 'succeeded', reason: state.reason } : { status: 'failed', reason: `delivered and kept, but ${this.postDeployFailures.join('; ')}` };
    const settle = () => Object.assign(state, outcome());
    // Since this patch a run says it has ended only once its report is on the branch, so whoever
    // sees the final status finds the report there; earlier runs said so first.
    const reportFirst = patched(STATUS_AFTER_REPORT);
    if (!reportFirst) settle();
    state.endedAt = new Date().toISOString();
    const ending = outcome();
    this.event('run', ending.status, ending.reason);
    try {
      await this.writeReport(ending);
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.postDeployFailures.push(`report: ${failureReason(err)}`);
    }
    settle();
    this.publish();
    await this.cleanUp();
    if (this.postDeployFailures.length === 0) {
      await this.milestone('Run finished: delivered.');
      await Promise.all(this.background);
      return state;
    }
    await this.milestone(`Run failed after delivery (nothing rolled back): ${state.reason}`);
    await Promise.all(this.background);
    throw ApplicationFailure.create({ message: `run failed: ${state.reason}`, type: 'PostDeployFailed', nonRetryable: true, details: [{ status: state.status, reason: state.reason }] });
  }

  /** The run's worktree goes when it ends (unless config keeps them); its branch stays. Best effort: a leftover is pruned at a worker's next start. */
  private async cleanUp(): Promise<void> {
    if (this.state.workspace === undefined || this.settings.repository.keepWorktrees) return;
    try {
      await git.removeWorkspace(this.inWorkspace);
    } catch (err) {
      this.event('run', 'worktree not removed', failureReason(err));
    }
  }

  /** The run's end on a failure or cancel: close its gates, undo what it changed (newest first), say why. */
  conclude(err: unknown): Promise<never> {
    return CancellationScope.nonCancellable(async () => {
      const { state } = this;
      const cancelled = isCancellation(err);
      state.reason = cancelled
        ? `cancelled by ${this.cancelRequest?.by ?? 'a Temporal cancel request'}${this.cancelRequest?.reason ? `: ${this.cancelRequest.reason}` : ''}`
        : failureReason(err);
      log.warn('run ending without delivery', { runId: this.runId, reason: state.reason });
      for (const gate of this.gates.closePending(state.reason, new Date())) void this.announce(gate, true);
      delete state.frozen;
      if (this.saga.size > 0) {
        this.event('run', 'rolling back', state.reason);
        await this.milestone(`Rolling back: ${state.reason}`);
        const failed = await this.saga.compensate();
        if (failed.length > 0) state.reason += ` (compensation failed: ${failed.join('; ')})`;
      }
      // Compensations recorded here include those a failed rollout already ran for itself.
      const rolledBack = state.compensations.some((c) => c.status !== 'armed');
      const status = rolledBack ? 'rolled-back' : cancelled ? 'cancelled' : 'failed';
      // As in finish(): the final status once the report is on the branch (earlier runs said it first).
      const reportFirst = patched(STATUS_AFTER_REPORT);
      if (!reportFirst) state.status = status;
      state.endedAt = new Date().toISOString();
      this.event('run', status, state.reason);
      if (!reportFirst) this.publish();
      // Every run ends with its report on the branch, whatever the outcome.
      if (state.workspace !== undefined) {
        try {
          await this.writeReport({ status, reason: state.reason });
        } catch (reportErr) {
          this.event('run', 'report not written', failureReason(reportErr));
        }
        state.status = status;
        // Runs that ended before the report memo existed replay without this upsert.
        if (patched('report-memo')) this.publish();
      }
      state.status = status;
      if (reportFirst) this.publish();
      await this.cleanUp();
      await this.milestone(`Run ${state.status}: ${state.reason}`);
      await Promise.all(this.background);
      if (cancelled) throw err;
      const type = rootApplicationFailure(err)?.type ?? 'RunFailed';
      throw ApplicationFailure.create({
        message: `run ${state.status}: ${state.reason}`,
        type: state.status === 'rolled-back' ? 'RolledBack' : type,
        nonRetryable: true,
        details: [{ status: state.status, reason: state.reason }],
      });
    });
  }
}

/**
 * The run state trimmed to stay well under Temporal's memo limit: recent timeline and audit, gate
 * summaries cut short, no artifact list. Read by the API when no worker answers in time.
 */
export function memoOf(state: RunState): RunState {
  return {
    ...state,
    gates: Object.fromEntries(Object.entries(state.gates).map(([name, gate]) => [name, { ...gate, summary: clip(gate.summary, 600) }])),
    approvals: state.approvals.slice(-20),
    artifacts: [],
    timeline: state.timeline.slice(-10),
    timelineDropped: state.timelineDropped + Math.max(0, state.timeline.length - 10),
  };
}

function currentDetails(state: RunState): string {
  const lines = [`**${state.feature}**`, '', `Status: **${state.status}** · phase: **${state.phase}${state.environment ? ` (${state.environment})` : ''}**`];
  const pending = Object.values(state.gates).filter((g) => g.status === 'pending');
  if (state.frozen !== undefined) lines.push(`⏸ ${state.frozen.detail}`);
  for (const gate of pending) lines.push(`Waiting for ${gate.personStep ? 'a person to complete' : 'approval of'} gate **${gate.name}** until ${gate.deadlineAt}`);
  if (state.services.length > 0) lines.push(`Services: ${state.services.join(', ')}`);
  if (state.reason !== undefined && TERMINAL_STATUSES.includes(state.status)) lines.push(`Reason: ${state.reason}`);
  return lines.join('\n');
}
