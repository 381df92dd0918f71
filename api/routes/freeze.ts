import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { openFreeze } from '../../config/freezeWindows';
import type { SlipwayConfig } from '../../config/schema';
import { freezeOverrideUpdate } from '../../workflows/messages';
import { emptyFreeze, FREEZE_MEMO, freezeStateQuery, freezeUpdate, freezeWorkflowId, productionFreeze, unfreezeUpdate, type FreezeRecord, type FreezeView } from '../../workflows/productionFreeze';
import type { Identity } from '../auth';
import { HttpError, identityOf } from '../errors';
import { errorReplies, freezeBody, freezeOverrideBody, freezeOverrideReply, freezeReply, runIdParams, unfreezeBody, type FreezeReply } from '../schemas';

export interface FreezeRoutesDeps {
  client: Client;
  config: SlipwayConfig;
  queryTimeoutMs: number;
  /** The clock scheduled windows are read against (tests). */
  now?: () => number;
}


function approver(request: { identity?: Identity }, what: string): Identity {
  const identity = identityOf(request);
  if (identity.role !== 'approver') throw new HttpError(403, `${identity.name} has the requester role and may not ${what}`);
  return identity;
}

/**
 * Production freezes: by hand (the productionFreeze workflow of this task queue, started on the
 * first freeze with update-with-start) and by the scheduled windows in config. Runs read the
 * windows from their own settings; GET /freeze reads today's config.
 */
export const freezeRoutes = (deps: FreezeRoutesDeps): FastifyPluginAsyncZod =>
  async function routes(app) {
    const { client, config } = deps;
    const workflowId = freezeWorkflowId(config.temporal.taskQueue);
    const now = deps.now ?? Date.now;

    /** The freeze as it stands: by hand from the workflow (or its memo when no worker answers), and the windows open now. */
    const current = (view: Pick<FreezeView, 'frozen' | 'history' | 'waiting'> & { stale?: boolean }): FreezeReply => {
      const windows = openFreeze(config.freeze.windows, now());
      return {
        frozen: view.frozen !== undefined || windows !== undefined,
        ...(view.frozen !== undefined ? { manual: view.frozen } : {}),
        windows: windows?.windows ?? [],
        ...(windows !== undefined ? { windowsUntil: new Date(windows.endsAt).toISOString() } : {}),
        history: view.history,
        waitingRuns: view.waiting,
        ...(view.stale ? { stale: true } : {}),
      };
    };

    const manualView = async (): Promise<Pick<FreezeView, 'frozen' | 'history' | 'waiting'> & { stale?: boolean }> => {
      const handle = client.workflow.getHandle(workflowId);
      let description;
      try {
        description = await handle.describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { history: [], waiting: [] };
        throw err;
      }
      if (description.status.name !== 'RUNNING') return { history: [], waiting: [] };
      try {
        return await client.withDeadline(Date.now() + deps.queryTimeoutMs, () => handle.query(freezeStateQuery));
      } catch {
        const frozen = (description.memo as Record<string, unknown> | undefined)?.[FREEZE_MEMO] as FreezeRecord | null | undefined;
        return { ...(frozen ? { frozen } : {}), history: [], waiting: [], stale: true };
      }
    };

    app.get(
      '/freeze',
      { schema: { summary: 'Whether production is frozen: by hand (who, when, why) and by scheduled windows', response: { 200: freezeReply, ...errorReplies } } },
      async (request) => {
        if (request.identity === undefined) throw new HttpError(401, 'missing bearer token');
        return current(await manualView());
      },
    );

    app.post(
      '/freeze',
      { schema: { summary: 'Freeze production (approvers): no production rollout starts until someone unfreezes', body: freezeBody, response: { 200: freezeReply, ...errorReplies } } },
      async (request) => {
        const identity = approver(request, 'freeze production');
        const view = await client.workflow.executeUpdateWithStart(freezeUpdate, {
          args: [{ by: identity.name, reason: request.body.reason }],
          startWorkflowOperation: new WithStartWorkflowOperation(productionFreeze, {
            workflowId,
            taskQueue: config.temporal.taskQueue,
            args: [emptyFreeze()],
            workflowIdConflictPolicy: 'USE_EXISTING',
            staticSummary: 'Production freeze',
          }),
        });
        request.log.warn({ by: identity.name, reason: request.body.reason }, 'production frozen');
        return current(view);
      },
    );

    app.post(
      '/unfreeze',
      { schema: { summary: 'Lift the freeze by hand (approvers); held runs go on by themselves, unless a window still holds them', body: unfreezeBody, response: { 200: freezeReply, ...errorReplies } } },
      async (request) => {
        const identity = approver(request, 'unfreeze production');
        const { frozen } = await manualView();
        if (frozen === undefined) throw new HttpError(409, 'production is not frozen by hand');
        const view = await client.workflow
          .getHandle(workflowId)
          .executeUpdate(unfreezeUpdate, { args: [{ by: identity.name, ...(request.body.comment ? { comment: request.body.comment } : {}) }] });
        request.log.warn({ by: identity.name }, 'production unfrozen');
        return current(view);
      },
    );

    app.post(
      '/runs/:id/freeze-override',
      {
        schema: {
          summary: 'Let one run held by a production freeze go on (approvers other than its requester), with a comment for the audit trail',
          params: runIdParams,
          body: freezeOverrideBody,
          response: { 200: freezeOverrideReply, ...errorReplies },
        },
      },
      async (request) => {
        const identity = approver(request, 'override a production freeze');
        const { id } = request.params;
        const handle = client.workflow.getHandle(id);
        const description = await handle.describe();
        if (description.status.name !== 'RUNNING') throw new HttpError(409, `run ${id} has ended (${description.status.name.toLowerCase()})`);
        const override = await handle.executeUpdate(freezeOverrideUpdate, { args: [{ approver: identity.name, comment: request.body.comment, via: 'api' }] });
        request.log.warn({ runId: id, by: identity.name }, 'production freeze overridden for a run');
        return { runId: id, override };
      },
    );
  };
