import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { GateRule } from '../config/settings';
import { failureReason } from './failures';
import { decideSignal, decideUpdate, DecisionRejection, type DecisionV1 } from './messages';
import { clip, LIMITS, progressOf, type AuditRecord, type GateRecord, type RunState } from './state';

export type GateOutcome = { approved: true; record: GateRecord } | { approved: false; record: GateRecord; comment: string };

export interface OpenGate {
  name: string;
  rule: GateRule;
  summary: string;
  fourEyes?: boolean;
  /** A person's step: approving says the work is committed; Slipway checks it and may reopen the gate. */
  personStep?: boolean;
}

/**
 * Approval gates of one run. Decisions arrive through the `decide` Update (validated
 * synchronously by `validate`) or the `decideSignal` Signal; `wait` blocks until one
 * lands or the deadline passes.
 */
export class Gates {
  constructor(
    private readonly state: Pick<RunState, 'runId' | 'requester' | 'gates' | 'approvals'>,
    private readonly onChange: () => void,
  ) {}

  /**
   * Takes this workflow's decisions: the `decide` Update (refused by the validator when it cannot be
   * taken) and the `decideSignal` Signal from the Temporal UI (an invalid one is told to `onIgnored`).
   */
  listen(onIgnored: (reason: string) => void): void {
    setHandler(decideUpdate, (decision) => this.apply(decision, new Date()), { validator: (decision) => this.validate(decision) });
    setHandler(decideSignal, (decision) => {
      const viaTemporal = { ...decision, via: decision.via ?? ('temporal' as const) };
      try {
        this.validate(viaTemporal);
        this.apply(viaTemporal, new Date());
      } catch (err) {
        onIgnored(failureReason(err));
      }
    });
  }

  /** Throws an ApplicationFailure whose type says why the decision cannot be taken. */
  validate(decision: DecisionV1): void {
    if (decision === null || typeof decision !== 'object') {
      throw ApplicationFailure.nonRetryable('a decision must be an object', DecisionRejection.InvalidDecision);
    }
    if (decision.decision !== 'approve' && decision.decision !== 'reject') {
      throw ApplicationFailure.nonRetryable(
        `decision must be "approve" or "reject", got ${JSON.stringify(decision.decision)}`,
        DecisionRejection.InvalidDecision,
      );
    }
    if (decision.override !== undefined && typeof decision.override !== 'boolean') {
      throw ApplicationFailure.nonRetryable('override must be true or false', DecisionRejection.InvalidDecision);
    }
    if (typeof decision.approver !== 'string' || decision.approver.trim() === '') {
      throw ApplicationFailure.nonRetryable('a decision must name its approver', DecisionRejection.InvalidDecision);
    }
    const gate = this.state.gates[decision.gate];
    if (gate === undefined) {
      const known = Object.keys(this.state.gates);
      throw ApplicationFailure.nonRetryable(
        `run ${this.state.runId} has no gate "${decision.gate}"${known.length > 0 ? ` (gates so far: ${known.join(', ')})` : ' open yet'}`,
        DecisionRejection.UnknownGate,
      );
    }
    if (decision.round !== undefined && decision.round !== gate.round) {
      throw ApplicationFailure.nonRetryable(
        `round ${decision.round} of gate "${gate.name}" was already decided (${gate.status === 'pending' ? `round ${gate.round} is open now` : `it is now ${gate.status}`})`,
        DecisionRejection.GateNotPending,
      );
    }
    if (gate.status !== 'pending') {
      const who = gate.decidedBy !== undefined ? ` by ${gate.decidedBy} at ${gate.decidedAt}` : '';
      throw ApplicationFailure.nonRetryable(
        `gate "${gate.name}" of run ${this.state.runId} is not pending: it was ${gate.status}${who}`,
        DecisionRejection.GateNotPending,
      );
    }
    if (decision.override === true) {
      this.validateOverride(gate, decision);
      return;
    }
    if (gate.approvers.length > 0 && !gate.approvers.includes(decision.approver)) {
      throw ApplicationFailure.nonRetryable(
        `${decision.approver} may not decide gate "${gate.name}" (allowed: ${gate.approvers.join(', ')})`,
        DecisionRejection.ApproverNotAllowed,
      );
    }
    const required = gate.approvalsRequired ?? 1;
    // Above one approval the requester never counts, on every gate: N approvals mean N people besides them.
    if (decision.decision === 'approve' && (gate.fourEyes || required > 1) && decision.approver === this.state.requester) {
      throw ApplicationFailure.nonRetryable(
        `${decision.approver} requested run ${this.state.runId} and may not also approve gate "${gate.name}" (four-eyes rule${required > 1 ? `: the requester never counts toward its ${required} approvals` : ''})`,
        DecisionRejection.FourEyes,
      );
    }
    const earlier = decision.decision === 'approve' ? gate.approvedBy?.find((a) => a.by === decision.approver) : undefined;
    if (earlier !== undefined) {
      throw ApplicationFailure.nonRetryable(
        `${decision.approver} already approved gate "${gate.name}" of run ${this.state.runId} at ${earlier.at} (${progressOf(gate)}): it needs ${required} different approvers`,
        DecisionRejection.AlreadyApproved,
      );
    }
    if (decision.decision === 'reject' && (decision.comment ?? '').trim() === '') {
      throw ApplicationFailure.nonRetryable(
        `rejecting gate "${gate.name}" needs a comment saying what to change`,
        DecisionRejection.CommentRequired,
      );
    }
  }

  /** An override approves alone: only an approval, only by someone the gate names for it, never the requester, always with a reason. */
  private validateOverride(gate: GateRecord, decision: DecisionV1): void {
    if (decision.decision !== 'approve') throw ApplicationFailure.nonRetryable('only an approval can be an override; a rejection already decides alone', DecisionRejection.InvalidDecision);
    const allowed = gate.overrideBy ?? [];
    if (!allowed.includes(decision.approver)) {
      throw ApplicationFailure.nonRetryable(
        `${decision.approver} may not override gate "${gate.name}"${allowed.length > 0 ? ` (overrideBy: ${allowed.join(', ')})` : ': its policy names nobody who may (overrideBy)'}`,
        DecisionRejection.ApproverNotAllowed,
      );
    }
    if (decision.approver === this.state.requester) {
      throw ApplicationFailure.nonRetryable(`${decision.approver} requested run ${this.state.runId} and may not override its gate "${gate.name}" (four-eyes rule)`, DecisionRejection.FourEyes);
    }
    if ((decision.comment ?? '').trim() === '') {
      throw ApplicationFailure.nonRetryable(`overriding gate "${gate.name}" needs a comment saying why it cannot wait for ${progressOf(gate)}`, DecisionRejection.CommentRequired);
    }
  }

  /**
   * Records a validated decision. An approval of a gate that needs several is recorded and keeps
   * the gate pending until enough distinct approvers have approved; a rejection decides at once.
   */
  apply(decision: DecisionV1, now: Date): GateRecord {
    const gate = this.state.gates[decision.gate];
    if (gate === undefined) throw new Error(`no gate ${decision.gate}`);
    if (decision.override === true) return this.override(gate, decision, now);
    if (decision.decision === 'approve' && (gate.approvalsRequired ?? 1) > 1) return this.approveOneOfMany(gate, decision, now);
    gate.status = decision.decision === 'approve' ? 'approved' : 'rejected';
    gate.decidedBy = decision.approver;
    gate.decidedAt = now.toISOString();
    const comment = decision.comment?.trim();
    if (comment) gate.comment = comment;
    this.audit({
      gate: gate.name,
      round: gate.round,
      decision: decision.decision,
      by: decision.approver,
      at: gate.decidedAt,
      ...(comment ? { comment } : {}),
      via: decision.via ?? 'api',
    });
    this.onChange();
    return { ...gate };
  }

  private override(gate: GateRecord, decision: DecisionV1, now: Date): GateRecord {
    const comment = clip((decision.comment ?? '').trim(), LIMITS.detail);
    gate.status = 'approved';
    gate.decidedBy = decision.approver;
    gate.decidedAt = now.toISOString();
    gate.comment = `override: ${comment}`;
    this.audit({ gate: gate.name, round: gate.round, decision: 'override', by: decision.approver, at: gate.decidedAt, comment, via: decision.via ?? 'api' });
    this.onChange();
    return { ...gate, ...(gate.approvedBy ? { approvedBy: [...gate.approvedBy] } : {}) };
  }

  private approveOneOfMany(gate: GateRecord, decision: DecisionV1, now: Date): GateRecord {
    const at = now.toISOString();
    const comment = decision.comment?.trim() ? clip(decision.comment.trim(), LIMITS.detail) : undefined;
    const via = decision.via ?? 'api';
    const approvals = (gate.approvedBy ??= []);
    approvals.push({ by: decision.approver, at, ...(comment ? { comment } : {}), via });
    this.audit({ gate: gate.name, round: gate.round, decision: 'approve', by: decision.approver, at, ...(comment ? { comment } : {}), via });
    if (approvals.length >= (gate.approvalsRequired ?? 1)) {
      gate.status = 'approved';
      gate.decidedBy = approvals.map((a) => a.by).join(', ');
      gate.decidedAt = at;
      if (comment) gate.comment = comment;
    }
    this.onChange();
    return { ...gate, approvedBy: [...approvals] };
  }

  /**
   * Opens the gate (or a new round of it). A gate that config does not require is
   * approved at once by policy, with an audit record saying so.
   */
  open(spec: OpenGate, now: Date): GateRecord {
    const previous = this.state.gates[spec.name];
    const record: GateRecord = {
      name: spec.name,
      status: 'pending',
      round: (previous?.round ?? 0) + 1,
      openedAt: now.toISOString(),
      deadlineAt: new Date(now.getTime() + spec.rule.deadline).toISOString(),
      summary: clip(spec.summary, LIMITS.gateSummary),
      approvers: [...spec.rule.approvers],
      fourEyes: spec.fourEyes ?? false,
      ...(spec.personStep ? { personStep: true } : {}),
      ...((spec.rule.approvals ?? 1) > 1 ? { approvalsRequired: spec.rule.approvals, approvedBy: [] } : {}),
      ...((spec.rule.overrideBy ?? []).length > 0 ? { overrideBy: [...(spec.rule.overrideBy ?? [])] } : {}),
    };
    this.state.gates[spec.name] = record;
    if (!spec.rule.required) {
      record.status = 'approved';
      record.decidedBy = 'policy';
      record.decidedAt = record.openedAt;
      this.audit({ gate: spec.name, round: record.round, decision: 'auto-approve', by: 'policy', at: record.openedAt, comment: 'gate not required by config', via: 'policy' });
    }
    this.onChange();
    return record;
  }

  /**
   * Waits for a decision on an open gate; throws `GateExpired` when its deadline passes first.
   * `onProgress` hears of each approval that leaves a gate needing several still pending.
   */
  async wait(record: GateRecord, onProgress?: (record: GateRecord) => void): Promise<GateOutcome> {
    let timeoutMs = Math.max(0, Date.parse(record.deadlineAt) - Date.parse(record.openedAt));
    // Counted from the gate's opening: an approval that lands while its message is being posted still reports progress.
    let seen = 0;
    while (record.status === 'pending') {
      const decided = await condition(() => record.status !== 'pending' || (record.approvedBy?.length ?? 0) !== seen, timeoutMs);
      if (decided && record.status === 'pending') {
        seen = record.approvedBy?.length ?? 0;
        onProgress?.(record);
        // Workflow time: replays see the same clock.
        timeoutMs = Math.max(1, Date.parse(record.deadlineAt) - Date.now());
        continue;
      }
      if (!decided) {
        record.status = 'expired';
        record.decidedAt = record.deadlineAt;
        this.audit({ gate: record.name, round: record.round, decision: 'expire', by: 'deadline', at: record.deadlineAt, via: 'timer' });
        this.onChange();
        throw ApplicationFailure.nonRetryable(`gate "${record.name}" expired at ${record.deadlineAt} with no decision`, 'GateExpired');
      }
    }
    if (record.status === 'approved') return { approved: true, record };
    return { approved: false, record, comment: record.comment ?? '' };
  }

  /**
   * A person's step was approved but Slipway's check of the work found problems: the approval is
   * kept in the audit trail, and the gate opens again (round + 1) with what to fix.
   */
  reopen(record: GateRecord, problems: string[], summary: string, now: Date): GateRecord {
    this.audit({ gate: record.name, round: record.round, decision: 'reopen', by: 'slipway', at: now.toISOString(), comment: clip(problems.join('; '), LIMITS.detail), via: 'run' });
    const rule = {
      required: true,
      approvers: record.approvers,
      deadline: Date.parse(record.deadlineAt) - Date.parse(record.openedAt),
      ...(record.approvalsRequired !== undefined ? { approvals: record.approvalsRequired } : {}),
      ...(record.overrideBy !== undefined ? { overrideBy: record.overrideBy } : {}),
    };
    const text = `Slipway checked what was committed and found:\n${problems.map((p) => `- ${p}`).join('\n')}\n\n${summary}`;
    return this.open({ name: record.name, rule, summary: text, fourEyes: record.fourEyes, personStep: true }, now);
  }

  /** Closes every gate still waiting when the run ends, so no one is asked to decide a dead run. */
  closePending(reason: string, now: Date): GateRecord[] {
    const closed = Object.values(this.state.gates).filter((g) => g.status === 'pending');
    for (const gate of closed) {
      gate.status = 'closed';
      gate.decidedAt = now.toISOString();
      gate.comment = reason;
      this.audit({ gate: gate.name, round: gate.round, decision: 'close', by: 'run', at: gate.decidedAt, comment: reason, via: 'run' });
    }
    if (closed.length > 0) this.onChange();
    return closed;
  }

  private audit(entry: AuditRecord): void {
    this.state.approvals.push(entry);
  }
}
