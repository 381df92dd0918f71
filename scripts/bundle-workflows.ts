/**
 * Bundles the workflow code and the workflow interceptors once, at build time, so a worker
 * started from the image loads a file instead of running webpack at every start.
 * Usage: tsx scripts/bundle-workflows.ts [out-file] (default dist/workflow-bundle.js).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../worker/build';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../worker/telemetry';

export async function bundleWorkflows(out: string): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  });
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, code);
}

if (require.main === module) {
  const out = resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
  bundleWorkflows(out)
    .then(() => console.log(`slipway: workflow bundle written to ${out}`))
    .catch((err: Error) => {
      console.error(`slipway: bundling the workflows failed: ${err.message}`);
      process.exit(1);
    });
}
