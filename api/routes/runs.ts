import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
// The decoder the client itself uses for search attributes (not re-exported at the package's top level).
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { temporal } from '@temporalio/proto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { SlipwayConfig } from '../../config/schema';
import { resolveRunSettings } from '../../config/settings';
import { evidenceQuery as segmentEvidenceQuery, segmentId, segmentProgressQuery } from '../../workflows/analysis';
import { ROLLBACK_MEMO } from '../../workflows/deliveredRollback';
import { featureDelivery } from '../../workflows/featureDelivery';
import { cancelRequestSignal, decideUpdate, REPORT_MEMO, reportQuery, RUN_MEMO, statusQuery, type DecisionV1 } from '../../workflows/messages';
import { watchProgressQuery } from '../../workflows/postDeployWatch';
import { SlipwayFeature, SlipwayPhase, SlipwayServices, SlipwayStatus } from '../../workflows/search-attributes';
import { buildReport, reportMarkdown, reportSettingsOf, runReportSchema, type RunReport } from '../../workflows/report';
import { rollbackIdOf } from '../../workflows/rollbackState';
import { rolloutProgressQuery } from '../../workflows/serviceRollout';
import { initialRunState, LIMITS, type AnalysisSummary, type RunState, type SoakSample } from '../../workflows/state';
import type { Identity } from '../auth';
import { HttpError, identityOf } from '../errors';
import { decodePageToken, encodePageToken } from '../pageToken';
import {
  cancelBody,
  cancelReply,
  decisionBody,
  errorReplies,
  evidenceQuery,
  evidenceReply,
  gateParams,
  gateReply,
  listRunsQuery,
  listRunsReply,
  reportReply,
  type RunReply,
  type RunSummary,
  rejectBody,
  runIdParams,
  runReply,
  startRunBody,
  startRunReply,
} from '../schemas';

export interface RunRoutesDeps {
  client: Client;
  config: SlipwayConfig;
  /** Where people can watch a run, e.g. http://127.0.0.1:8233 */
  temporalUiUrl?: string;
  /** How long a status query may wait for a worker. */
  queryTimeoutMs: number;
}


/** `feature-<slug>-<key>`: readable in the Temporal UI, and the same key always names the same run. */
export function runIdFor(feature: string, key: string): string {
  const words = feature.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  let slug = '';
  for (const word of words) {
    const next = slug ? `${slug}-${word}` : word;
    if (next.length > 40) break;
    slug = next;
  }
  return `feature-${slug || (words[0] ?? 'run').slice(0, 40)}-${key}`;
}

export const runRoutes = (deps: RunRoutesDeps): FastifyPluginAsyncZod =>
  async function routes(app) {
    const { client, config } = deps;
    const workflowUrl = (runId: string) =>
      deps.temporalUiUrl ? `${deps.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(runId)}` : undefined;
    const withDeadline = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + deps.queryTimeoutMs, fn);

    app.post(
      '/runs',
      { schema: { summary: 'Start a feature run', body: startRunBody, response: { 200: startRunReply, 201: startRunReply, ...errorReplies } } },
      async (request, reply) => {
        const identity = identityOf(request);
        const { feature, services = [], idempotencyKey } = request.body;
        const unknown = services.filter((name) => !config.services.some((s) => s.name === name));
        if (unknown.length > 0) {
          throw new HttpError(400, `unknown service(s): ${unknown.join(', ')} (configured: ${config.services.map((s) => s.name).join(', ')})`);
        }
        const runId = runIdFor(feature, idempotencyKey ?? randomUUID().replaceAll('-', '').slice(0, 12));
        const url = workflowUrl(runId);
        try {
          await client.workflow.start(featureDelivery, {
            taskQueue: config.temporal.taskQueue,
            workflowId: runId,
            args: [{ feature, requester: identity.name, services, settings: resolveRunSettings(config) }],
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            // The run's state as of its start, so GET /runs/:id answers before a worker has taken it up.
            memo: {
              requester: identity.name,
              [RUN_MEMO]: {
                ...initialRunState({ runId, feature, requester: identity.name, services, mode: config.llm !== undefined ? 'agents' : 'person', startedAt: new Date().toISOString() }),
                asOf: new Date().toISOString(),
              },
            },
            staticSummary: feature,
            staticDetails: `Requested by ${identity.name}${services.length > 0 ? ` for ${services.join(', ')}` : ''}.`,
            typedSearchAttributes: [
              { key: SlipwayFeature, value: feature },
              { key: SlipwayServices, value: services },
              { key: SlipwayStatus, value: 'running' },
              { key: SlipwayPhase, value: 'specify' },
            ],
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          // The same key again: answer with the run it already started, never a second one.
          const existing = await client.workflow.getHandle(runId).describe();
          if (existing.typedSearchAttributes.get(SlipwayFeature) !== feature) {
            throw new HttpError(409, `idempotency key ${idempotencyKey} already started run ${runId} for a different feature`);
          }
          request.log.info({ runId }, 'run already exists for this idempotency key');
          return reply.code(200).send({ runId, created: false, ...(url ? { temporalUiUrl: url } : {}) });
        }
        request.log.info({ runId, requester: identity.name }, 'run started');
        return reply.code(201).send({ runId, created: true, ...(url ? { temporalUiUrl: url } : {}) });
      },
    );

    app.get(
      '/runs',
      { schema: { summary: 'List runs, newest first, from Temporal visibility alone (one page per call)', querystring: listRunsQuery, response: { 200: listRunsReply, ...errorReplies } } },
      async (request) => {
        identityOf(request);
        const { status, phase, limit, pageToken } = request.query;
        const clauses = [`WorkflowType = 'featureDelivery'`];
        if (status !== undefined) clauses.push(`SlipwayStatus = '${status}'`);
        // deploy matches deploy:dev, deploy:staging … as well.
        if (phase !== undefined) clauses.push(phase.includes(':') ? `SlipwayPhase = '${phase}'` : `(SlipwayPhase = '${phase}' OR SlipwayPhase STARTS_WITH '${phase}:')`);
        const query = clauses.join(' AND ');
        let token: Uint8Array | undefined;
        if (pageToken !== undefined) {
          token = decodePageToken(query, pageToken);
          if (token === undefined) throw new HttpError(400, 'pageToken is not a token this API gave out for this filter (pass status and phase as on the first page)');
        }
        // The raw call: one visibility request per page, never one query per run.
        const page = await client.workflowService
          .listWorkflowExecutions({ namespace: config.temporal.namespace, query, pageSize: limit, ...(token ? { nextPageToken: token } : {}) })
          .catch((err: Error & { code?: number }) => {
            // INVALID_ARGUMENT: Temporal could not read a token (e.g. one from before its restart).
            if (token !== undefined && (err.code === 3 || /page token/i.test(err.message))) throw new HttpError(400, 'pageToken is no longer valid; list again from the first page');
            throw err;
          });
        const runs = (page.executions ?? []).map((execution) => summaryOf(execution));
        const next = page.nextPageToken && page.nextPageToken.length > 0 ? encodePageToken(query, page.nextPageToken) : undefined;
        return { runs, ...(next ? { nextPageToken: next } : {}) };
      },
    );

    /** Latest samples of an analysis that is still running, from the segment taking them. */
    const withLiveSegment = async (analysis: AnalysisSummary, segment: string | undefined): Promise<AnalysisSummary> => {
      if (segment === undefined) return analysis;
      const progress = await withDeadline(() => client.workflow.getHandle(segment).query(segmentProgressQuery));
      return { ...analysis, samples: analysis.samples + progress.samples, failing: analysis.failing + progress.failing, ...(progress.last ? { last: progress.last } : {}) };
    };

    /** Rollouts and watches still running report their own progress; the run's state has what they had when they started. */
    const withLiveChildren = async (state: RunState, log: { debug: (o: object, m: string) => void }): Promise<RunState> => {
      const rollouts = await Promise.all(
        state.rollouts.map(async (rollout) => {
          if (rollout.status !== 'running') return rollout;
          try {
            const progress = await withDeadline(() => client.workflow.getHandle(rollout.workflowId).query(rolloutProgressQuery));
            const summary = progress.summary;
            if (summary.soak !== undefined) summary.soak = await withLiveSegment(summary.soak, progress.analysisWorkflowId);
            return summary;
          } catch (err) {
            log.debug({ err, workflowId: rollout.workflowId }, 'rollout progress not available');
            return rollout;
          }
        }),
      );
      const watches = await Promise.all(
        state.watches.map(async (watch) => {
          if (watch.status !== 'running') return watch;
          try {
            const progress = await withDeadline(() => client.workflow.getHandle(watch.workflowId).query(watchProgressQuery));
            return { ...progress.summary, analysis: await withLiveSegment(progress.summary.analysis, progress.analysisWorkflowId) };
          } catch (err) {
            log.debug({ err, workflowId: watch.workflowId }, 'watch progress not available');
            return watch;
          }
        }),
      );
      return { ...state, rollouts, watches };
    };

    /**
     * The run's state from the workflow itself, or, when no worker answers in time (all busy, none
     * running), the copy the workflow keeps in its memo, marked stale with the time it was made.
     */
    const stateOf = async (id: string, log: { warn: (o: object, m: string) => void }): Promise<RunState & { stale?: boolean; asOf?: string }> => {
      const handle = client.workflow.getHandle(id);
      const description = await handle.describe(); // 404 before a query that would wait for a worker
      try {
        return await withDeadline(() => handle.query(statusQuery));
      } catch (err) {
        const memo = (description.memo as Record<string, unknown> | undefined)?.[RUN_MEMO] as (RunState & { asOf?: string }) | undefined;
        if (memo === undefined) throw new HttpError(503, `no worker answered within ${deps.queryTimeoutMs / 1000}s and run ${id} has published no state yet: try again`);
        log.warn({ runId: id, err: (err as Error).message }, 'status from the memo: no worker answered in time');
        return { ...memo, stale: true };
      }
    };

    /** A delivered run records being rolled back later through its rollback workflow (it cannot change its own history once ended). */
    const laterRollback = async (runId: string, log: { warn: (o: object, m: string) => void }): Promise<Pick<RunReply, 'rollback'>> => {
      const rollbackId = rollbackIdOf(runId);
      try {
        const description = await client.workflow.getHandle(rollbackId).describe();
        const memo = description.memo as { requester?: string; [ROLLBACK_MEMO]?: { status?: string; endedAt?: string } } | undefined;
        const published = memo?.[ROLLBACK_MEMO];
        // A rollback closed without saying how (terminated, timed out) is what Temporal says it is.
        const status = description.status.name !== 'RUNNING' && published?.endedAt === undefined ? description.status.name.toLowerCase() : (published?.status ?? description.status.name.toLowerCase());
        return { rollback: { rollbackId, status, ...(memo?.requester ? { requester: memo.requester } : {}) } };
      } catch (err) {
        // The run's own state matters more than this line: leave it out rather than fail the request.
        if (!(err instanceof WorkflowNotFoundError)) log.warn({ runId, err: (err as Error).message }, 'could not read the run\'s later rollback');
        return {};
      }
    };

    app.get(
      '/runs/:id',
      { schema: { summary: 'A run: phase, gates, artifacts, timeline, rollouts and their soaks, cost', params: runIdParams, response: { 200: runReply, ...errorReplies } } },
      async (request) => {
        identityOf(request);
        const state = await withLiveChildren(await stateOf(request.params.id, request.log), request.log);
        return state.status === 'succeeded' || state.status === 'failed' ? { ...state, ...(await laterRollback(request.params.id, request.log)) } : state;
      },
    );

    app.get(
      '/runs/:id/evidence',
      {
        schema: {
          summary: 'The samples behind a soak or watch verdict, page by page: each check\'s query, value, threshold and status',
          params: runIdParams,
          querystring: evidenceQuery,
          response: { 200: evidenceReply, ...errorReplies },
        },
      },
      async (request) => {
        identityOf(request);
        const { id } = request.params;
        const { service, environment, kind, page, pageSize } = request.query;
        const state = await withLiveChildren(await stateOf(id, request.log), request.log);
        const found =
          kind === 'soak'
            ? state.rollouts.filter((r) => r.service === service && (environment === undefined || r.environment === environment) && r.soak !== undefined).map((r) => ({ workflowId: r.workflowId, environment: r.environment, analysis: r.soak as AnalysisSummary }))
            : state.watches.filter((w) => w.service === service && (environment === undefined || w.environment === environment)).map((w) => ({ workflowId: w.workflowId, environment: w.environment, analysis: w.analysis }));
        const target = found.at(-1);
        if (target === undefined) {
          throw new HttpError(404, `run ${id} has no ${kind} of ${service}${environment ? ` in ${environment}` : ''} (yet)`);
        }
        // Segments hold samplesPerSegment samples each, in order: a page spans at most two of them.
        const total = target.analysis.samples;
        const from = (page - 1) * pageSize;
        const to = Math.min(total, from + pageSize);
        const samples: SoakSample[] = [];
        for (let index = from; index < to; ) {
          const segment = Math.floor(index / LIMITS.samplesPerSegment) + 1;
          const offset = index - (segment - 1) * LIMITS.samplesPerSegment;
          const limit = Math.min(to - index, LIMITS.samplesPerSegment - offset);
          const part = await withDeadline(() => client.workflow.getHandle(segmentId(target.workflowId, segment)).query(segmentEvidenceQuery, { offset, limit }));
          samples.push(...part.samples);
          if (part.samples.length < limit) break;
          index += limit;
        }
        return { runId: id, service, environment: target.environment, kind, page, pageSize, pages: Math.max(1, Math.ceil(total / pageSize)), total, samples };
      },
    );

    /**
     * The report without asking a worker when the run has ended (the final report is in its memo);
     * otherwise the run computes it from its state (reportQuery). With no worker in time, it is made
     * here from the memo's state and today's config, marked stale.
     */
    const reportOf = async (id: string, log: { warn: (o: object, m: string) => void }): Promise<{ report: RunReport; stale?: boolean }> => {
      const handle = client.workflow.getHandle(id);
      const description = await handle.describe();
      const memo = runReportSchema.safeParse((description.memo as Record<string, unknown> | undefined)?.[REPORT_MEMO]);
      if (memo.success) return { report: memo.data };
      try {
        return { report: await withDeadline(() => handle.query(reportQuery)) };
      } catch (err) {
        const state = (description.memo as Record<string, unknown> | undefined)?.[RUN_MEMO] as RunState | undefined;
        if (state === undefined) throw err;
        log.warn({ runId: id, err: (err as Error).message }, 'report from the memo: no worker answered in time');
        return { report: buildReport(state, undefined, reportSettingsOf(resolveRunSettings(config))), stale: true };
      }
    };

    app.get(
      '/runs/:id/report',
      {
        schema: {
          summary: "The run's summary report: services modified, migrations, deployments, observability, docs, quality, monitoring and the rollback plan, as JSON and as the Markdown on the branch",
          params: runIdParams,
          response: { 200: reportReply, ...errorReplies },
        },
      },
      async (request) => {
        identityOf(request);
        const { report, stale } = await reportOf(request.params.id, request.log);
        return { runId: report.runId, status: report.status, final: report.final, ...(stale ? { stale } : {}), report, markdown: reportMarkdown(report) };
      },
    );

    const decide = async (runId: string, gate: string, identity: Identity, decision: DecisionV1['decision'], comment?: string, override?: boolean) => {
      if (identity.role !== 'approver') {
        throw new HttpError(403, `${identity.name} has the requester role and may not decide gates`);
      }
      const handle = client.workflow.getHandle(runId);
      const description = await handle.describe();
      if (description.status.name !== 'RUNNING') {
        throw new HttpError(409, `run ${runId} has ended (${description.status.name.toLowerCase()}); its gates can no longer be decided`);
      }
      const record = await handle.executeUpdate(decideUpdate, {
        args: [{ gate, decision, approver: identity.name, ...(comment ? { comment } : {}), ...(override ? { override } : {}), via: 'api' }],
      });
      return { runId, gate: record };
    };

    app.post(
      '/runs/:id/gates/:gate/approve',
      { schema: { summary: 'Approve a pending gate', params: gateParams, body: decisionBody, response: { 200: gateReply, ...errorReplies } } },
      async (request) => decide(request.params.id, request.params.gate, identityOf(request), 'approve', request.body.comment, request.body.override),
    );

    app.post(
      '/runs/:id/gates/:gate/reject',
      { schema: { summary: 'Reject a pending gate, with a comment', params: gateParams, body: rejectBody, response: { 200: gateReply, ...errorReplies } } },
      async (request) => decide(request.params.id, request.params.gate, identityOf(request), 'reject', request.body.comment),
    );

    app.post(
      '/runs/:id/cancel',
      { schema: { summary: 'Cancel a run; what it changed is rolled back', params: runIdParams, body: cancelBody, response: { 202: cancelReply, ...errorReplies } } },
      async (request, reply) => {
        const identity = identityOf(request);
        const { id } = request.params;
        const handle = client.workflow.getHandle(id);
        const description = await handle.describe();
        const requester = (description.memo as { requester?: string } | undefined)?.requester;
        if (identity.role !== 'approver' && identity.name !== requester) {
          throw new HttpError(403, `${identity.name} may cancel only runs they requested`);
        }
        if (description.status.name !== 'RUNNING') {
          throw new HttpError(409, `run ${id} has already ended (${description.status.name.toLowerCase()})`);
        }
        await handle.signal(cancelRequestSignal, { by: identity.name, ...(request.body.reason ? { reason: request.body.reason } : {}) });
        await handle.cancel();
        request.log.info({ runId: id, by: identity.name }, 'run cancel requested');
        return reply.code(202).send({ runId: id, cancelRequested: true });
      },
    );
  };

/** One row of GET /runs, from what visibility holds: search attributes and the run's memo. */
function summaryOf(execution: temporal.api.workflow.v1.IWorkflowExecutionInfo): RunSummary {
  const attributes = decodeTypedSearchAttributes(execution.searchAttributes?.indexedFields);
  const memoPayload = execution.memo?.fields?.[RUN_MEMO];
  const memo = memoPayload ? (defaultPayloadConverter.fromPayload(memoPayload) as (RunState & { asOf?: string }) | undefined) : undefined;
  const pending = memo ? Object.values(memo.gates).find((g) => g.status === 'pending') : undefined;
  const feature = attributes.get(SlipwayFeature);
  const status = attributes.get(SlipwayStatus);
  const phase = attributes.get(SlipwayPhase);
  const started = execution.startTime ? new Date(Number(execution.startTime.seconds ?? 0) * 1000 + Math.floor((execution.startTime.nanos ?? 0) / 1e6)).toISOString() : '';
  return {
    runId: execution.execution?.workflowId ?? '',
    ...(feature !== undefined ? { feature } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(phase !== undefined ? { phase } : {}),
    services: (attributes.get(SlipwayServices) ?? []).filter(Boolean),
    ...(memo?.requester ? { requester: memo.requester } : {}),
    ...(pending ? { waitingFor: { gate: pending.name, round: pending.round, since: pending.openedAt, deadlineAt: pending.deadlineAt } } : {}),
    ...(memo?.frozen ? { held: memo.frozen.detail } : {}),
    ...(memo?.workspace ? { branch: memo.workspace.branch } : {}),
    startedAt: started,
    temporalStatus: temporal.api.enums.v1.WorkflowExecutionStatus[execution.status ?? 0]?.replace('WORKFLOW_EXECUTION_STATUS_', '') ?? 'UNKNOWN',
  };
}
