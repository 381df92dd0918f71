/**
 * Helm, installed by the project itself: reused from PATH when its version fits, else built
 * once with `go install` into the per-user cache (keyed by version), outside any checkout.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { goInstall } from './goInstall';
import { cacheDir } from './temporal';

const run = promisify(execFile);

export const HELM_VERSION = '4.3.1';
const MODULE = 'helm.sh/helm/v4/cmd/helm';
// What helm's own Makefile sets; without it `helm version` reports only "v4.3".
const VERSION_VAR = 'helm.sh/helm/v4/internal/version.version';

async function versionOf(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(binary, ['version', '--template', '{{.Version}}'], { timeout: 10_000 });
    return stdout.trim().replace(/^v/, '');
  } catch {
    return undefined;
  }
}

/** Path of a helm of the pinned version, building it if none is found. */
export async function ensureHelm(log: (line: string) => void = console.log): Promise<string> {
  if ((await versionOf('helm')) === HELM_VERSION) return 'helm';
  const folder = join(cacheDir(), 'tools', `helm-v${HELM_VERSION}`);
  const binary = join(folder, 'helm');
  if (existsSync(binary) && (await versionOf(binary)) === HELM_VERSION) return binary;

  await goInstall({ what: 'helm', module: MODULE, version: HELM_VERSION, folder, ldflags: `-s -w -X ${VERSION_VAR}=v${HELM_VERSION}`, log, env: { CGO_ENABLED: '0' } });
  return binary;
}

if (require.main === module) {
  ensureHelm()
    .then((binary) => console.log(binary))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
