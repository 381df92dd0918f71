import { homedir } from 'node:os';
import { join } from 'node:path';

/** The per-user cache Slipway installs its tools into (outside any checkout, so fresh clones reuse them). */
export function cacheDir(): string {
  return process.env.SLIPWAY_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'slipway');
}
