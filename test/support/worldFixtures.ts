import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLocalImage, type BuiltImage } from '../../world/images';

export const testTools = () => ({ registry: process.env.SLIPWAY_TEST_REGISTRY as string, crane: process.env.SLIPWAY_TEST_CRANE as string });

/** An image of test/support/versionServer.mjs that answers /version with `version` (one starting with "crash" exits 3). */
export async function versionImage(crane: string, registry: string, version: string, repository = 'version-server'): Promise<BuiltImage> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-fixture-image-'));
  await copyFile(join(__dirname, 'versionServer.mjs'), join(dir, 'server.mjs'));
  await writeFile(join(dir, 'version.txt'), `${version}\n`);
  return buildLocalImage({ crane, registry, repository, tag: version, layers: [{ from: dir, to: '/app' }], entrypoint: ['node', 'server.mjs'], workingDir: '/app' });
}

export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const httpText = async (url: string) => {
  const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.text();
};

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
