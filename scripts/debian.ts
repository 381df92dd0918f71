/**
 * A Debian package's files in the per-user tool cache: downloaded with apt-get and unpacked with
 * dpkg-deb (never installed: no service starts, no root-owned system files change).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from './temporal';

const run = promisify(execFile);

/**
 * Unpacks Debian's package `name` into `cacheDir()/tools/<name>-<version>/` and returns that
 * folder. `works` checks the unpacked files before they are moved in, so a cut-off or unusable
 * unpack never looks installed. Runs `apt-get update` once when the package lists are missing.
 */
export async function unpackDebianPackage(name: string, works: (folder: string) => Promise<boolean>): Promise<string> {
  const tools = join(cacheDir(), 'tools');
  const scratch = await mkdtemp(join(tmpdir(), `slipway-${name}-`));
  let partial: string | undefined;
  try {
    const download = () => run('apt-get', ['download', name], { cwd: scratch, maxBuffer: 16 * 1024 * 1024 });
    try {
      await download();
    } catch {
      // A machine that never ran `apt-get update` has no package lists yet.
      await run('apt-get', ['update', '-qq'], { maxBuffer: 16 * 1024 * 1024 });
      await download();
    }
    const deb = (await readdir(scratch)).find((f) => f.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download ${name} produced no .deb`);
    const version = deb.replace(`${name}_`, '').replace(/_[^_]+\.deb$/, '').replace(/[^A-Za-z0-9.+-]/g, '_');
    await mkdir(tools, { recursive: true });
    const target = join(tools, `${name}-${version}`);
    // Unpacked beside the target (same filesystem) and moved in whole.
    partial = await mkdtemp(`${target}.partial-`);
    await run('dpkg-deb', ['-x', join(scratch, deb), partial]);
    if (!(await works(partial))) throw new Error(`the unpacked ${name} ${version} does not run (a library it needs may be missing)`);
    await rm(target, { recursive: true, force: true });
    await rename(partial, target);
    partial = undefined;
    return target;
  } catch (err) {
    throw new Error(`could not install ${name} from Debian's package (${(err as { stderr?: string }).stderr?.trim() || (err as Error).message})`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
    if (partial !== undefined) await rm(partial, { recursive: true, force: true });
  }
}
