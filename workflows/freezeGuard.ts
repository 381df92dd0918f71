import { ApplicationFailure, condition, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import { openFreeze, type OpenFreeze } from '../config/freezeWindows';
import type { EnvironmentSettings, RunSettings } from '../config/settings';
import { DecisionRejection, freezeOverrideUpdate, type FreezeOverrideV1 } from './messages';
import { freezeStatusSignal, freezeSubscribeSignal, freezeWorkflowId, FreezeRejection, type FreezeRecord, type FreezeStatusV1 } from './productionFreeze';
import { clip, LIMITS, type Phase, type RunState } from './state';

/** What the guard needs of its run (workflows/run.ts). */
export interface FreezeHost {
  readonly state: RunState;
  readonly settings: RunSettings;
  readonly production: EnvironmentSettings;
  event(phase: Phase | 'run', what: string, detail?: string): void;
  publish(): void;
  milestone(text: string): Promise<unknown>;
}

/** A held run looks again at least this often. */
const RECHECK_MS = 60 * 60_000;

/** The audit trail's name for an override; it is not a gate, but it is read beside them. */
export const FREEZE_OVERRIDE = 'freeze-override';

/**
 * Keeps a run's production rollouts from starting while production is frozen: by hand (the
 * productionFreeze workflow, asked by Signal, which answers by Signal now and when it lifts) or by
 * a scheduled window from the run's settings (a timer to its end). No polling: a held run costs
 * nothing until something changes. An approver other than the requester may override, per run.
 */
export class FreezeGuard {
  private requests = 0;
  private answered = 0;
  private latest: FreezeStatusV1 | undefined;

  constructor(private readonly run: FreezeHost) {
    setHandler(freezeStatusSignal, (status) => {
      if (typeof status?.request !== 'number' || typeof status.version !== 'number') return;
      this.answered = Math.max(this.answered, status.request);
      if (this.latest === undefined || status.version >= this.latest.version) this.latest = status;
    });
    setHandler(freezeOverrideUpdate, (override) => this.applyOverride(override), { validator: (override) => this.validateOverride(override) });
  }

  private get overridden(): boolean {
    return this.run.state.freezeOverride !== undefined;
  }

  /** Returns when the rollout of `service` to production may start. */
  async hold(service: string): Promise<void> {
    while (!this.overridden) {
      const manual = await this.manualFreeze();
      const windows = openFreeze(this.run.settings.freeze?.windows ?? [], Date.now());
      if ((manual === undefined && windows === undefined) || this.overridden) break;
      await this.show(service, manual, windows);
      // Until the freeze lifts (its Signal), the window closes (a timer), or an approver overrides; then look again.
      // At least hourly too, so a run outlives a freeze workflow that was terminated instead of unfrozen.
      const lifted = () => this.overridden || (manual !== undefined && this.latest?.frozen === undefined);
      const wait = windows !== undefined ? Math.min(windows.endsAt - Date.now(), RECHECK_MS) : RECHECK_MS;
      await condition(lifted, Math.max(1_000, wait));
    }
    const held = this.run.state.frozen;
    if (held === undefined) return;
    delete this.run.state.frozen;
    const override = this.run.state.freezeOverride;
    this.run.event('deploy', `rollout of ${service} to production starts`, override ? `freeze overridden by ${override.by}: ${override.comment}` : `the freeze lifted; held since ${held.since}`);
    this.run.publish();
  }

  /** The freeze by hand in force now, asked of the freeze workflow; none when there has never been one on this task queue. */
  private async manualFreeze(): Promise<FreezeRecord | undefined> {
    const request = ++this.requests;
    const info = workflowInfo();
    try {
      await getExternalWorkflowHandle(freezeWorkflowId(info.taskQueue)).signal(freezeSubscribeSignal, { workflowId: info.workflowId, request });
    } catch {
      return undefined;
    }
    await condition(() => this.answered >= request || this.overridden);
    return this.latest?.frozen;
  }

  private async show(service: string, manual: FreezeRecord | undefined, windows: OpenFreeze | undefined): Promise<void> {
    const why: string[] = [];
    if (manual !== undefined) why.push(`production frozen by ${manual.by} — ${manual.reason}`);
    if (windows !== undefined) {
      const reasons = windows.windows.map((w) => (w.reason !== undefined ? `${w.name} (${w.reason})` : w.name)).join(', ');
      why.push(`production freeze window ${reasons} until ${new Date(windows.endsAt).toISOString()}`);
    }
    const detail = clip(`waiting: ${why.join('; ')}`, LIMITS.detail);
    const previous = this.run.state.frozen;
    this.run.state.frozen = {
      since: previous?.since ?? new Date().toISOString(),
      service,
      detail,
      ...(manual !== undefined ? { by: manual.by, reason: manual.reason } : {}),
      ...(windows !== undefined ? { windows: windows.windows.map((w) => w.name), until: new Date(windows.endsAt).toISOString() } : {}),
    };
    if (previous?.detail === detail) return;
    this.run.event('deploy', `rollout of ${service} to production held`, detail);
    this.run.publish();
    await this.run.milestone(`Production rollout of ${service} held — ${detail}`);
  }

  private validateOverride(override: FreezeOverrideV1): void {
    const { state, production } = this.run;
    if (override === null || typeof override !== 'object' || typeof override.approver !== 'string' || override.approver.trim() === '') {
      throw ApplicationFailure.nonRetryable('an override must name its approver', DecisionRejection.InvalidDecision);
    }
    if (typeof override.comment !== 'string' || override.comment.trim() === '') {
      throw ApplicationFailure.nonRetryable('overriding a production freeze needs a comment saying why this cannot wait', DecisionRejection.CommentRequired);
    }
    if (state.frozen === undefined) {
      throw ApplicationFailure.nonRetryable(`run ${state.runId} is not waiting for a production freeze${state.freezeOverride ? ` (${state.freezeOverride.by} already overrode it)` : ''}`, FreezeRejection.NotWaitingForFreeze);
    }
    const approvers = production.gate.approvers;
    if (approvers.length > 0 && !approvers.includes(override.approver)) {
      throw ApplicationFailure.nonRetryable(`${override.approver} may not override a freeze for ${production.name} (allowed: ${approvers.join(', ')})`, DecisionRejection.ApproverNotAllowed);
    }
    if (override.approver === state.requester) {
      throw ApplicationFailure.nonRetryable(`${override.approver} requested run ${state.runId} and may not also override the freeze for it (four-eyes rule)`, DecisionRejection.FourEyes);
    }
  }

  private applyOverride(override: FreezeOverrideV1): NonNullable<RunState['freezeOverride']> {
    const record = { by: override.approver, at: new Date().toISOString(), comment: clip(override.comment.trim(), LIMITS.detail) };
    this.run.state.freezeOverride = record;
    this.run.state.approvals.push({ gate: FREEZE_OVERRIDE, round: 1, decision: 'override', by: record.by, at: record.at, comment: record.comment, via: override.via ?? 'api' });
    this.run.event('deploy', `production freeze overridden by ${record.by}`, record.comment);
    this.run.publish();
    return record;
  }
}
