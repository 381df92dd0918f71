/**
 * api_start_vs_raw_ratio: runs started per second through `POST /runs` (the API process: HTTP,
 * auth, validation, settings, then the start) ÷ runs started per second with `@temporalio/client`
 * directly, with the same workflow, arguments, memo and search attributes, at the same concurrency.
 * The worker is stopped meanwhile, so only the start path is measured; the runs are terminated after.
 */
import { loadConfig } from '../../config/load';
import { resolveRunSettings } from '../../config/settings';
import { runIdFor } from '../../api/routes/runs';
import { featureDelivery } from '../../workflows/featureDelivery';
import { SlipwayFeature, SlipwayPhase, SlipwayServices, SlipwayStatus } from '../../workflows/search-attributes';
import { figure, type Figure } from '../figure';
import { pool, terminateAll, timed } from '../load';
import type { Stack } from '../stack';

const FEATURE = 'Add real-time notifications when users receive new messages';

export async function apiStartRatio(stack: Stack, sizes: { starts: number; concurrency: number }, log: (line: string) => void): Promise<Figure> {
  await stack.worker.stop();
  const config = await loadConfig(stack.configFile);
  const perRound = Math.max(10, Math.ceil(sizes.starts / 6));
  let apiMs = 0;
  let rawMs = 0;
  let apiCount = 0;
  let rawCount = 0;
  const tag = Date.now().toString(36);
  // Alternating rounds, so a slow moment of the machine falls on both sides.
  for (let round = 0; round < 3; round++) {
    const keys = Array.from({ length: perRound }, (_, i) => `${tag}-${round}-${i}`);
    const api = await timed(() =>
      pool(keys, sizes.concurrency, async (key) => {
        const res = await stack.call('POST', '/runs', 'requester', { feature: FEATURE, idempotencyKey: `api-${key}` });
        if (res.status !== 201) throw new Error(`POST /runs answered ${res.status}: ${res.text.slice(0, 200)}`);
      }),
    );
    apiMs += api.ms;
    apiCount += keys.length;
    const raw = await timed(() =>
      pool(keys, sizes.concurrency, (key) =>
        stack.client.workflow.start(featureDelivery, {
          taskQueue: config.temporal.taskQueue,
          workflowId: runIdFor(FEATURE, `raw-${key}`),
          args: [{ feature: FEATURE, requester: 'dev', services: [], settings: resolveRunSettings(config) }],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          memo: { requester: 'dev' },
          staticSummary: FEATURE,
          staticDetails: 'Requested by dev.',
          typedSearchAttributes: [
            { key: SlipwayFeature, value: FEATURE },
            { key: SlipwayServices, value: [] },
            { key: SlipwayStatus, value: 'running' },
            { key: SlipwayPhase, value: 'specify' },
          ],
        }),
      ),
    );
    rawMs += raw.ms;
    rawCount += keys.length;
  }
  // What HTTP alone costs on this machine at the same concurrency: the floor of the API's overhead.
  const health = await timed(() => pool(Array.from({ length: apiCount }, () => 0), sizes.concurrency, () => fetch(`${stack.apiUrl}/healthz`).then((r) => r.text())));
  const healthRate = apiCount / (health.ms / 1000);
  const apiRate = apiCount / (apiMs / 1000);
  const rawRate = rawCount / (rawMs / 1000);
  log(`starts: API ${apiRate.toFixed(0)}/s, raw client ${rawRate.toFixed(0)}/s`);
  const terminated = await terminateAll(stack.client, `TaskQueue = '${stack.taskQueue}'`);
  log(`starts: terminated ${terminated} runs; starting the worker again`);
  stack.worker.start();
  await stack.waitForWorker();
  return figure('api_start_vs_raw_ratio', apiRate / rawRate, 'ratio', '>=', 0.8, `POST /runs ${apiRate.toFixed(0)}/s vs client.workflow.start ${rawRate.toFixed(0)}/s; ${apiCount}+${rawCount} starts, concurrency ${sizes.concurrency}, worker stopped; GET /healthz alone ${healthRate.toFixed(0)}/s`);
}
