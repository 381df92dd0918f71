/**
 * Workflow interceptors (they run inside the workflow sandbox: deterministic, no Node APIs) that
 * report run lifecycle to the worker through a sink, where worker/metrics.ts counts it. The
 * workflows themselves stay unaware of metrics. Sink calls are dropped while a history replays,
 * so a run moved to another worker is not counted twice.
 */
import { ApplicationFailure, isCancellation, proxySinks, workflowInfo, type Sinks, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import type { RolloutInputV1, RolloutResult } from '../workflows/serviceRollout';
import { SlipwayPhase, SlipwayStatus } from '../workflows/search-attributes';

export interface RunMetricsSinks extends Sinks {
  slipwayMetrics: {
    /** A run entered a phase or changed status (what its search attributes now say). */
    runTransition(event: { phase: string; status: string }): void;
    /** A run ended, in this phase, with this status (succeeded, failed, rolled-back, cancelled). */
    runEnded(event: { phase: string; status: string }): void;
    /** One service's rollout in one environment ended. */
    rolloutEnded(event: { service: string; environment: string; outcome: 'passed' | 'deployed' | 'inconclusive' | 'failed' | 'cancelled' }): void;
  };
}

const { slipwayMetrics } = proxySinks<RunMetricsSinks>();

function published(): { phase: string; status: string } {
  const attributes = workflowInfo().typedSearchAttributes;
  return { phase: attributes.get(SlipwayPhase) ?? 'unknown', status: attributes.get(SlipwayStatus) ?? 'unknown' };
}

/** The status a failed run reports in its failure's details (featureDelivery puts it there). */
function failedStatus(err: unknown): string {
  if (isCancellation(err)) return 'cancelled';
  if (err instanceof ApplicationFailure) {
    const details = err.details?.[0] as { status?: unknown } | undefined;
    if (typeof details?.status === 'string') return details.status;
  }
  return 'failed';
}

function featureDeliveryInterceptors(): ReturnType<WorkflowInterceptorsFactory> {
  let last = '';
  return {
    internals: [
      {
        concludeActivation(input, next) {
          // upsertSearchAttributes updates workflowInfo at once; compare after each activation.
          const now = published();
          const key = `${now.phase}/${now.status}`;
          if (key !== last && now.status !== 'unknown') {
            last = key;
            slipwayMetrics.runTransition(now);
          }
          return next(input);
        },
      },
    ],
    inbound: [
      {
        async execute(input, next) {
          try {
            const result = (await next(input)) as { status?: string; phase?: string } | undefined;
            slipwayMetrics.runEnded({ phase: result?.phase ?? published().phase, status: result?.status ?? 'succeeded' });
            return result;
          } catch (err) {
            slipwayMetrics.runEnded({ phase: published().phase, status: failedStatus(err) });
            throw err;
          }
        },
      },
    ],
  };
}

function serviceRolloutInterceptors(): ReturnType<WorkflowInterceptorsFactory> {
  return {
    inbound: [
      {
        async execute(input, next) {
          const rollout = input.args[0] as RolloutInputV1;
          const where = { service: rollout.service.name, environment: rollout.environment.name };
          try {
            const result = (await next(input)) as RolloutResult;
            const outcome = result.summary.status === 'inconclusive' ? 'inconclusive' : rollout.environment.soak !== undefined ? 'passed' : 'deployed';
            slipwayMetrics.rolloutEnded({ ...where, outcome });
            return result;
          } catch (err) {
            slipwayMetrics.rolloutEnded({ ...where, outcome: isCancellation(err) ? 'cancelled' : 'failed' });
            throw err;
          }
        },
      },
    ],
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  switch (workflowInfo().workflowType) {
    case 'featureDelivery':
      return featureDeliveryInterceptors();
    case 'serviceRollout':
      return serviceRolloutInterceptors();
    default:
      return {};
  }
};
