import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { ensureTemporalCli, freePort, startDevServer, type DevServer } from '../../scripts/temporal';
import { WORKFLOWS_PATH } from '../../worker/build';

/** One real Temporal dev server (in memory) and one workflow bundle for the whole test run. */
export default async function globalSetup(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-test-'));
  const binary = await ensureTemporalCli((line) => process.stderr.write(`${line}\n`));
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
