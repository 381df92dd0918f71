/**
 * Helm, installed by the project itself: reused from PATH when its version fits, else built
 * once with `go install` into the per-user cache (keyed by version), outside any checkout.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
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

  try {
    await run('go', ['version']);
  } catch {
    throw new Error(`helm ${HELM_VERSION} is not installed and Go is not on PATH to build it; install Go or put helm ${HELM_VERSION} on PATH`);
  }
  log(`slipway: building helm v${HELM_VERSION} with go install (once; cached in ${folder}) ...`);
  await mkdir(dirname(folder), { recursive: true });
  // Build into a scratch folder and move it in whole, so a cut-off build never looks installed.
  const scratch = await mkdtemp(`${folder}.partial-`);
  try {
    await run('go', ['install', `-ldflags=-s -w -X ${VERSION_VAR}=v${HELM_VERSION}`, `${MODULE}@v${HELM_VERSION}`], {
      env: { ...process.env, GOBIN: scratch, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' },
      maxBuffer: 64 * 1024 * 1024,
    });
    await rm(folder, { recursive: true, force: true });
    await rename(scratch, folder);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw new Error(`go install of helm failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
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
