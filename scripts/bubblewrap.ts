/**
 * bubblewrap (`bwrap`), the sandbox every command from a run's branch runs in, installed by the
 * project itself: reused from PATH when it works, else Debian's `bubblewrap` package is downloaded
 * with apt-get and unpacked (not installed) into the per-user cache, keyed by its version.
 */
import { join } from 'node:path';
import { unpackDebianPackage } from './debian';
import { BWRAP_IN_PACKAGE, bwrapWorks, locateBubblewrap } from '../activities/sandbox/locate';
import { cacheDir } from '../config/toolCache';

/** A working bwrap, fetching Debian's package into the cache (once) when none is found. */
export async function ensureBubblewrap(log: (line: string) => void = console.log): Promise<string> {
  const found = await locateBubblewrap();
  if (found !== undefined) return found;
  log(`slipway: fetching Debian's bubblewrap package into ${join(cacheDir(), 'tools')} (once) ...`);
  try {
    return join(await unpackDebianPackage('bubblewrap', (folder) => bwrapWorks(join(folder, BWRAP_IN_PACKAGE))), BWRAP_IN_PACKAGE);
  } catch (err) {
    throw new Error(`${(err as Error).message}; install the bubblewrap package or put bwrap on PATH`);
  }
}

if (require.main === module) {
  ensureBubblewrap()
    .then((binary) => console.log(binary))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
