import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { ensureHelm } from '../../scripts/helm';
import { ensureBubblewrap } from '../../scripts/bubblewrap';
import { ensureCrane } from '../../scripts/crane';
import { ensureKubernetes } from '../../scripts/kubernetes';
import { ensurePrometheus } from '../../scripts/prometheus';
import { ensureRegistry } from '../../scripts/registry';
import { ensureTemporalCli, freePort, startDevServer, type DevServer } from '../../scripts/temporal';
import { WORKFLOWS_PATH } from '../../worker/build';

/** One real Temporal dev server (in memory) and one workflow bundle for the whole test run. */
export default async function globalSetup(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-test-'));
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const binary = await ensureTemporalCli(progress);
  const prometheus = await ensurePrometheus(progress);
  // Every command from a branch runs under bubblewrap, in tests too.
  await ensureBubblewrap(progress);
  process.env.SLIPWAY_TEST_PROMETHEUS = prometheus.prometheus;
  process.env.SLIPWAY_TEST_PROMTOOL = prometheus.promtool;
  // The control plane is built once per machine (about ten minutes cold), then reused from the cache.
  process.env.SLIPWAY_TEST_KUBE_BINARIES = JSON.stringify(await ensureKubernetes(progress));
  process.env.SLIPWAY_TEST_HELM = await ensureHelm(progress);
  // The local world's registry and image tool, built once per machine (a few minutes cold).
  process.env.SLIPWAY_TEST_REGISTRY = await ensureRegistry(progress);
  process.env.SLIPWAY_TEST_CRANE = await ensureCrane(progress);
  const [server, bundle] = await Promise.all([
    freePort().then((port) => startDevServer({ binary, port, logFile: join(dir, 'temporal.log') })),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
  ]);
  const bundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(bundlePath, bundle.code);
  (globalThis as { slipwayTemporal?: DevServer }).slipwayTemporal = server;
  process.env.SLIPWAY_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.SLIPWAY_TEST_WORKFLOW_BUNDLE = bundlePath;
  process.env.SLIPWAY_TEST_DIR = dir;
}
