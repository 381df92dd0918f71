/** The example config, moved into a temp folder on free ports: the local world for the breach figure and the chaos run. */
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { SlipwayConfigInput } from '../config/schema';
import { freePort } from '../scripts/temporal';
import { ROOT } from './stack';

export async function worldConfig(dir: string, change: (config: SlipwayConfigInput) => SlipwayConfigInput = (c) => c): Promise<Omit<SlipwayConfigInput, 'temporal' | 'api'>> {
  // Sandboxed commands run as nobody, who must be able to reach the worktrees below it.
  await chmod(dir, 0o755);
  const example = parse(await readFile(join(ROOT, 'slipway.config.example.yaml'), 'utf8')) as SlipwayConfigInput;
  const [registry, prometheus] = [await freePort(), await freePort()];
  const worldDir = join(dir, 'world');
  const config: SlipwayConfigInput = {
    ...example,
    world: { ...example.world, dir: worldDir, registryPort: registry, prometheusPort: prometheus },
    repository: { ...example.repository, path: join(worldDir, 'sample', 'repo'), worktreesDir: join(dir, 'worktrees') },
    images: { registry: `127.0.0.1:${registry}`, insecure: true },
    prometheus: { ...example.prometheus, url: `http://127.0.0.1:${prometheus}` },
    sandbox: { mode: 'bubblewrap', network: { commands: ['verify', 'audit', 'outdated'] }, cacheMounts: [{ path: join(worldDir, 'sample', 'npm-cache'), env: 'NPM_CONFIG_CACHE' }] },
  };
  const { temporal: _t, api: _a, ...rest } = change(config);
  return rest;
}
