import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';

/**
 * The manual production freeze ("stop the line"): one long-lived workflow per task queue, so the
 * freeze survives every API and worker restart and says who froze, when and why. Approvers freeze
 * and unfreeze through Updates (the API starts it with update-with-start); runs about to roll out
 * to production subscribe with a Signal and hear back, now and when the freeze lifts, by Signal.
 */

/** The freeze workflow of a task queue: runs on that queue find it by this id. */
export function freezeWorkflowId(taskQueue: string): string {
  return `slipway-production-freeze-${taskQueue}`;
}

export const freezeRecordSchema = z.object({ by: z.string(), at: z.string(), reason: z.string() });
export type FreezeRecord = z.infer<typeof freezeRecordSchema>;

export const freezeEventSchema = z.object({
  action: z.enum(['freeze', 'unfreeze']),
  by: z.string(),
  at: z.string(),
  /** Why it froze, or the comment that came with lifting it. */
  reason: z.string().optional(),
});
export type FreezeEvent = z.infer<typeof freezeEventSchema>;

/** What the freeze workflow shows: the freeze in force, if any, its recent history, and the runs it holds. */
export const freezeViewSchema = z.object({
  frozen: freezeRecordSchema.optional(),
  /** Newest last, the most recent FREEZE_LIMITS.history. */
  history: z.array(freezeEventSchema),
  /** Runs waiting for this freeze to lift. */
  waiting: z.array(z.string()),
  /** Freezes and unfreezes ever; a run keeps the answer with the highest version. */
  version: z.number().int(),
});
export type FreezeView = z.infer<typeof freezeViewSchema>;

export interface FreezeRequestV1 {
  by: string;
  reason: string;
}

export interface UnfreezeRequestV1 {
  by: string;
  comment?: string;
}

/** A run asking whether production is frozen; `request` numbers its questions. */
export interface FreezeSubscriptionV1 {
  workflowId: string;
  request: number;
}

/** The answer to a run (now, and again when the freeze lifts). */
export interface FreezeStatusV1 {
  request: number;
  version: number;
  frozen?: FreezeRecord;
}

/** The freeze workflow's input, which is also what it carries across continue-as-new. */
export interface ProductionFreezeInputV1 {
  frozen?: FreezeRecord;
  history: FreezeEvent[];
  waiting: FreezeSubscriptionV1[];
  version: number;
  /** Continue as new at this many history events (tests make it small). */
  historyLimit?: number;
}

export const FREEZE_LIMITS = { history: 50, waiting: 1_000, historyEvents: 5_000 } as const;

/** Failure types of the freeze Updates and the run's freeze override; the API maps them to HTTP statuses. */
export const FreezeRejection = {
  AlreadyFrozen: 'AlreadyFrozen',
  NotFrozen: 'NotFrozen',
  ReasonRequired: 'ReasonRequired',
  InvalidRequest: 'InvalidRequest',
  NotWaitingForFreeze: 'NotWaitingForFreeze',
} as const;

export const freezeUpdate = defineUpdate<FreezeView, [FreezeRequestV1]>('freeze');
export const unfreezeUpdate = defineUpdate<FreezeView, [UnfreezeRequestV1]>('unfreeze');
export const freezeStateQuery = defineQuery<FreezeView>('freezeState');
/** Sent by a run to the freeze workflow. */
export const freezeSubscribeSignal = defineSignal<[FreezeSubscriptionV1]>('freezeSubscribe');
/** Sent by the freeze workflow to a run. */
export const freezeStatusSignal = defineSignal<[FreezeStatusV1]>('freezeStatus');

/** The memo key with the freeze in force, so the API can answer without a worker. */
export const FREEZE_MEMO = 'slipwayFreeze';

export const emptyFreeze = (): ProductionFreezeInputV1 => ({ history: [], waiting: [], version: 0 });

function identity(by: unknown): string {
  if (typeof by !== 'string' || by.trim() === '') throw ApplicationFailure.nonRetryable('a freeze request must name who sends it', FreezeRejection.InvalidRequest);
  return by;
}

export async function productionFreeze(input: ProductionFreezeInputV1 = emptyFreeze()): Promise<void> {
  const state: ProductionFreezeInputV1 = { history: [...input.history], waiting: [...input.waiting], version: input.version, ...(input.frozen ? { frozen: input.frozen } : {}) };
  const historyLimit = input.historyLimit ?? FREEZE_LIMITS.historyEvents;
  const view = (): FreezeView => ({ ...(state.frozen ? { frozen: state.frozen } : {}), history: state.history, waiting: state.waiting.map((w) => w.workflowId), version: state.version });

  let published: string | undefined;
  const publish = () => {
    const f = state.frozen;
    setCurrentDetails(f ? `**Production frozen** by ${f.by} since ${f.at}: ${f.reason}\n\n${state.waiting.length} run(s) waiting` : 'Production is not frozen.');
    // The memo only when the freeze changed: a subscription must not add an event of its own.
    const text = JSON.stringify(f ?? null);
    if (text !== published) upsertMemo({ [FREEZE_MEMO]: f ?? null });
    published = text;
  };
  const record = (event: FreezeEvent) => {
    state.history.push(event);
    if (state.history.length > FREEZE_LIMITS.history) state.history.splice(0, state.history.length - FREEZE_LIMITS.history);
    state.version++;
  };
  /** Tells a run where the freeze stands; a run that has ended is forgotten. */
  const answer = async (subscriber: FreezeSubscriptionV1) => {
    try {
      await getExternalWorkflowHandle(subscriber.workflowId).signal(freezeStatusSignal, { request: subscriber.request, version: state.version, ...(state.frozen ? { frozen: state.frozen } : {}) });
    } catch {
      state.waiting = state.waiting.filter((w) => w.workflowId !== subscriber.workflowId);
    }
  };

  setHandler(freezeStateQuery, view);
  setHandler(
    freezeUpdate,
    (request) => {
      state.frozen = { by: request.by, at: new Date().toISOString(), reason: request.reason.trim() };
      record({ action: 'freeze', by: request.by, at: state.frozen.at, reason: state.frozen.reason });
      publish();
      return view();
    },
    {
      validator: (request) => {
        identity(request?.by);
        if (typeof request.reason !== 'string' || request.reason.trim() === '') throw ApplicationFailure.nonRetryable('freezing production needs a reason people will read', FreezeRejection.ReasonRequired);
        const f = state.frozen;
        if (f !== undefined) throw ApplicationFailure.nonRetryable(`production is already frozen by ${f.by} since ${f.at}: ${f.reason}`, FreezeRejection.AlreadyFrozen);
      },
    },
  );
  setHandler(
    unfreezeUpdate,
    async (request) => {
      const comment = request.comment?.trim();
      record({ action: 'unfreeze', by: request.by, at: new Date().toISOString(), ...(comment ? { reason: comment } : {}) });
      delete state.frozen;
      publish();
      const waiting = state.waiting;
      state.waiting = [];
      await Promise.all(waiting.map(answer));
      return view();
    },
    {
      validator: (request) => {
        identity(request?.by);
        if (state.frozen === undefined) throw ApplicationFailure.nonRetryable('production is not frozen', FreezeRejection.NotFrozen);
      },
    },
  );
  setHandler(freezeSubscribeSignal, async (subscriber) => {
    if (typeof subscriber?.workflowId !== 'string' || typeof subscriber.request !== 'number') return;
    state.waiting = state.waiting.filter((w) => w.workflowId !== subscriber.workflowId);
    // Only a frozen answer needs a second one later, when the freeze lifts.
    if (state.frozen !== undefined && state.waiting.length < FREEZE_LIMITS.waiting) state.waiting.push(subscriber);
    publish();
    await answer(subscriber);
  });

  publish();
  // Forever, one history at a time: the state is small, so a new run carries it whole.
  await condition(() => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= historyLimit);
  await condition(allHandlersFinished);
  await continueAsNew<typeof productionFreeze>({ ...state, ...(input.historyLimit !== undefined ? { historyLimit: input.historyLimit } : {}) });
}
