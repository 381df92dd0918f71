import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * `go install <module>@<version>` into `folder` (the per-user tool cache). Builds into a scratch
 * folder and moves it in whole, so a cut-off build never looks installed.
 */
export async function goInstall(options: { what: string; module: string; version: string; folder: string; ldflags: string; log: (line: string) => void; env?: NodeJS.ProcessEnv }): Promise<void> {
  try {
    await run('go', ['version']);
  } catch {
    throw new Error(`${options.what} ${options.version} is not installed and Go is not on PATH to build it; install Go or put ${options.what} ${options.version} on PATH`);
  }
  options.log(`slipway: building ${options.what} v${options.version} with go install (once; cached in ${options.folder}) ...`);
  await mkdir(dirname(options.folder), { recursive: true });
  const scratch = await mkdtemp(`${options.folder}.partial-`);
  try {
    await run('go', ['install', `-ldflags=${options.ldflags}`, `${options.module}@v${options.version}`], {
      env: { ...process.env, GOBIN: scratch, GOFLAGS: '-buildvcs=false', ...options.env },
      maxBuffer: 64 * 1024 * 1024,
    });
    await rm(options.folder, { recursive: true, force: true });
    await rename(scratch, options.folder);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw new Error(`go install of ${options.what} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}
