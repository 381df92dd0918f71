import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where `npm run build` puts the workflow bundle: beside the compiled worker/ folder (dist/workflow-bundle.js). */
export const BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

/** The pre-built workflow bundle, when there is one (the container image); otherwise the worker bundles at start. */
export function prebuiltWorkflowBundle(env: NodeJS.ProcessEnv = process.env): { codePath: string } | undefined {
  const codePath = env.SLIPWAY_WORKFLOW_BUNDLE ?? BUNDLE_PATH;
  if (existsSync(codePath)) return { codePath };
  if (env.SLIPWAY_WORKFLOW_BUNDLE !== undefined) throw new Error(`SLIPWAY_WORKFLOW_BUNDLE names ${codePath}, which does not exist (npm run build writes dist/workflow-bundle.js)`);
  return undefined;
}
