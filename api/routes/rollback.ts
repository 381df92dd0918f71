import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { SlipwayConfig } from '../../config/schema';
import { resolveRunSettings } from '../../config/settings';
import { deliveredRollback, ROLLBACK_MEMO, rollbackStatusQuery } from '../../workflows/deliveredRollback';
import { RUN_MEMO } from '../../workflows/messages';
import { initialRollbackState } from '../../workflows/rollbackPlan';
import { rollbackIdOf, type DeliveredRollbackState } from '../../workflows/rollbackState';
import { TERMINAL_STATUSES, type RunState } from '../../workflows/state';
import { HttpError, identityOf } from '../errors';
import { errorReplies, rollbackBody, rollbackReply, runIdParams } from '../schemas';

export interface RollbackRoutesDeps {
  client: Client;
  config: SlipwayConfig;
  queryTimeoutMs: number;
  /** How long POST waits for the check against the world before answering 202 with `checking` (under the CLI's 30 s). */
  checkTimeoutMs?: number;
}


/** Whether the run's published state says it has ended. */
function ended(memo: Record<string, unknown> | undefined): boolean {
  const status = (memo?.[RUN_MEMO] as RunState | undefined)?.status;
  return status !== undefined && TERMINAL_STATUSES.includes(status);
}

/** Delivered: it succeeded, or failed after delivery (docs, observability) with its rollouts kept and nothing undone. */
function delivered(run: RunState): boolean {
  if (run.status === 'succeeded') return true;
  return run.status === 'failed' && run.rollouts.some((r) => r.status === 'succeeded') && run.compensations.every((c) => c.status === 'armed');
}

/**
 * Rolling a delivered run back later: `POST /runs/:id/rollback` starts the deliveredRollback
 * workflow (`<id>.rollback`), which checks the world, waits at its `rollback` gate (decided like any
 * gate: `POST /runs/<id>.rollback/gates/rollback/approve`, Slack, the Temporal UI), then undoes.
 */
export const rollbackRoutes = (deps: RollbackRoutesDeps): FastifyPluginAsyncZod =>
  async function routes(app) {
    const { client, config } = deps;
    const withDeadline = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + deps.queryTimeoutMs, fn);

    /** The rollback's state from its workflow, or the copy in its memo when no worker answers in time. */
    const rollbackOf = async (runId: string): Promise<DeliveredRollbackState & { stale?: boolean; asOf?: string }> => {
      const handle = client.workflow.getHandle(rollbackIdOf(runId));
      let description;
      try {
        description = await handle.describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new HttpError(404, `run ${runId} has no rollback (POST /runs/${runId}/rollback asks for one)`);
        throw err;
      }
      try {
        return await withDeadline(() => handle.query(rollbackStatusQuery));
      } catch {
        const memo = (description.memo as Record<string, unknown> | undefined)?.[ROLLBACK_MEMO] as (DeliveredRollbackState & { asOf?: string }) | undefined;
        if (memo === undefined) throw new HttpError(503, `no worker answered within ${deps.queryTimeoutMs / 1000}s and the rollback of ${runId} has published no state yet: try again`);
        return { ...memo, stale: true };
      }
    };

    app.post(
      '/runs/:id/rollback',
      {
        schema: {
          summary: "Roll a delivered run back later: each Deployment to its previous revision and the run's migrations reverted, production first, after an approver's approval; refused (409) when a later change would be lost, unless forced with a comment",
          params: runIdParams,
          body: rollbackBody,
          response: { 202: rollbackReply, ...errorReplies },
        },
      },
      async (request, reply) => {
        const identity = identityOf(request);
        const { id } = request.params;
        const { reason, force, comment } = request.body;
        const handle = client.workflow.getHandle(id);
        let description = await handle.describe();
        if (description.type !== 'featureDelivery') throw new HttpError(404, `${id} is not a feature run`);
        // A run that says it has ended closes a moment later (its last notifications): wait for that, briefly.
        for (let waited = 0; description.status.name === 'RUNNING' && ended(description.memo) && waited < 5_000; waited += 250) {
          await new Promise((r) => setTimeout(r, 250));
          description = await handle.describe();
        }
        if (description.status.name === 'RUNNING') {
          throw new HttpError(
            409,
            ended(description.memo)
              ? `run ${id} has ended but is still finishing (its last notifications): try again in a few seconds`
              : `run ${id} is still running: cancel it instead (POST /runs/${id}/cancel), which rolls back what it changed`,
          );
        }
        const run = (description.memo as Record<string, unknown> | undefined)?.[RUN_MEMO] as RunState | undefined;
        if (run === undefined || run.workspace === undefined) throw new HttpError(409, `run ${id} left no record of what it delivered`);
        if (!delivered(run)) {
          throw new HttpError(409, `run ${id} ended ${run.status}: only a delivered run can be rolled back later${run.status === 'rolled-back' ? ' (it already rolled itself back)' : ''}`);
        }
        const rollbackId = rollbackIdOf(id);
        const asked = {
          runId: id,
          feature: run.feature,
          branch: run.workspace.branch,
          rollouts: run.rollouts,
          requester: identity.name,
          reason,
          ...(force ? { force: { comment: comment ?? '' } } : {}),
        };
        try {
          await client.workflow.start(deliveredRollback, {
            taskQueue: config.temporal.taskQueue,
            workflowId: rollbackId,
            // Like a run, it acts with the settings of today's config, resolved as it starts.
            args: [{ ...asked, settings: resolveRunSettings(config) }],
            workflowIdConflictPolicy: 'FAIL',
            // A refused, rejected or failed rollback may be asked again; one that rolled back may not.
            workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
            // Its state as of its start, so GET answers before a worker has taken it up.
            memo: { requester: identity.name, [ROLLBACK_MEMO]: { ...initialRollbackState({ ...asked, rollbackId, startedAt: new Date().toISOString() }), asOf: new Date().toISOString() } },
            staticSummary: `Roll back ${id}`,
            staticDetails: `Asked by ${identity.name}: ${reason}${force ? ` (forced: ${comment ?? ''})` : ''}`,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          const existing = await client.workflow.getHandle(rollbackId).describe();
          throw new HttpError(
            409,
            existing.status.name === 'RUNNING'
              ? `a rollback of run ${id} is already under way (${rollbackId}): GET /runs/${id}/rollback shows it`
              : `run ${id} was already rolled back (${rollbackId})`,
          );
        }
        request.log.info({ runId: id, rollbackId, by: identity.name, force: force === true }, 'rollback asked');
        // The check against the world takes seconds: a refusal is this request's answer, not a later surprise.
        const deadline = Date.now() + (deps.checkTimeoutMs ?? 15_000);
        let state = await rollbackOf(id);
        while (state.status === 'checking' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          state = await rollbackOf(id);
        }
        if (state.status === 'refused') throw new HttpError(409, `rollback of run ${id} refused: ${state.outcome ?? 'see GET /runs/' + id + '/rollback'}`);
        if (state.status === 'failed') throw new HttpError(409, `rollback of run ${id} failed: ${state.outcome ?? ''}`);
        return reply.code(202).send(state);
      },
    );

    app.get(
      '/runs/:id/rollback',
      { schema: { summary: "A delivered run's later rollback: its steps, the later changes it found, its gate and how each step went", params: runIdParams, response: { 200: rollbackReply, ...errorReplies } } },
      async (request) => {
        identityOf(request);
        return rollbackOf(request.params.id);
      },
    );
  };
