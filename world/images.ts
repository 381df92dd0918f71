/**
 * Builds, pushes and pulls OCI images without a Docker engine: deterministic tar layers appended
 * with crane onto an empty base, configured with `crane mutate`, addressed by digest.
 *
 * Layers are written with node-tar rather than GNU tar: its `portable` mode drops uid/gid/owner
 * names and host times, `mtime` pins the one time left, and we hand it an explicitly sorted entry
 * list, so the bytes depend only on the files' paths, modes and contents, on every machine alike.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { minimatch } from 'minimatch';
import * as tar from 'tar';

const run = promisify(execFile);

/** Every entry's mtime: a fixed instant (2000-01-01), so a rebuild of the same files gives the same layer. */
const LAYER_MTIME = new Date(Date.UTC(2000, 0, 1));

export interface ImageLayer {
  /** A directory on the host. */
  from: string;
  /** Where its contents go in the image, e.g. /app. */
  to: string;
  /** Globs relative to `from` (e.g. `dist/**`, `package.json`); default: everything. */
  include?: string[];
}

export interface BuildImageInput {
  crane: string;
  /** host:port of a plain-HTTP registry. */
  registry: string;
  /** e.g. messages */
  repository: string;
  /** e.g. the commit */
  tag: string;
  layers: ImageLayer[];
  entrypoint: string[];
  cmd?: string[];
  workingDir?: string;
  env?: Record<string, string>;
}

export interface BuiltImage {
  /** <registry>/<repository>:<tag> */
  reference: string;
  /** sha256:… of the pushed manifest */
  digest: string;
  /** <registry>/<repository>@<digest>: what a Deployment should name. */
  pinned: string;
}

export async function buildLocalImage(input: BuildImageInput): Promise<BuiltImage> {
  if (input.layers.length === 0) throw new Error(`image ${input.repository}:${input.tag} needs at least one layer`);
  if (input.entrypoint.length === 0) throw new Error(`image ${input.repository}:${input.tag} needs an entrypoint`);
  const reference = `${input.registry}/${input.repository}:${input.tag}`;
  const scratch = await mkdtemp(join(tmpdir(), 'slipway-image-'));
  try {
    const files: string[] = [];
    for (const [index, layer] of input.layers.entries()) {
      const file = join(scratch, `layer-${index}.tar.gz`);
      await writeLayer(layer, file);
      files.push(file);
    }
    await crane(input.crane, ['append', '--oci-empty-base', ...files.flatMap((f) => ['-f', f]), '-t', reference]);
    const mutate = ['mutate', reference, '-t', reference, '--set-platform', 'linux/amd64'];
    // crane parses these lists as CSV: quote every element so commas and quotes survive.
    for (const part of input.entrypoint) mutate.push(`--entrypoint=${csvField(part)}`);
    for (const part of input.cmd ?? []) mutate.push(`--cmd=${csvField(part)}`);
    if (input.workingDir !== undefined) mutate.push('--workdir', input.workingDir);
    for (const [key, value] of Object.entries(input.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) mutate.push('--env', `${key}=${value}`);
    await crane(input.crane, mutate);
    const digest = await imageDigest(input.crane, reference);
    return { reference, digest, pinned: `${input.registry}/${input.repository}@${digest}` };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The digest of the manifest a reference names in the registry. */
export async function imageDigest(cranePath: string, reference: string): Promise<string> {
  const digest = (await crane(cranePath, ['digest', reference])).trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`crane digest ${reference} answered ${JSON.stringify(digest)}, not a digest`);
  return digest;
}

/**
 * Writes one gzipped tar layer of `layer.from` (sorted entries, fixed mtime, owner 0:0) and returns
 * its sha256; the same files give the same bytes, so a registry stores a shared layer once.
 */
export async function writeLayer(layer: ImageLayer, file: string): Promise<string> {
  const st = await lstat(layer.from).catch(() => undefined);
  if (!st?.isDirectory()) throw new Error(`image layer source ${layer.from} is not a directory`);
  const entries = await layerEntries(layer.from, layer.include);
  const prefix = posix.normalize(layer.to).replace(/^\/+/, '').replace(/\/+$/, '');
  // tar.Pack itself, not tar.create: create() reads a path starting with "@" (an npm scope such as
  // node_modules/@grpc) as "append the archive at this path".
  const pack = new tar.Pack({ cwd: layer.from, gzip: true, portable: true, mtime: LAYER_MTIME, noDirRecurse: true, ...(prefix && prefix !== '.' ? { prefix } : {}) });
  const written = new Promise<void>((resolveWrite, rejectWrite) => {
    const out = createWriteStream(file);
    out.on('close', resolveWrite).on('error', rejectWrite);
    pack.on('error', rejectWrite);
    pack.pipe(out);
  });
  for (const entry of entries) pack.add(entry);
  pack.end();
  await written;
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** The paths under `root` to archive, in byte order; with globs, only matches and the directories that lead to them. */
async function layerEntries(root: string, include: string[] | undefined): Promise<string[]> {
  const all: { path: string; dir: boolean }[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort(byteOrder);
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, path));
      all.push({ path, dir: st.isDirectory() });
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk('');
  if (include === undefined || include.length === 0) return all.map((e) => e.path);
  const matches = (path: string) => include.some((glob) => minimatch(path, glob, { dot: true }));
  const chosen = new Set<string>();
  for (const entry of all) {
    // A matched directory brings everything beneath it, as `COPY dir` would.
    const matchedAncestor = entry.path.split('/').some((_, i, parts) => matches(parts.slice(0, i + 1).join('/')));
    if (!matchedAncestor) continue;
    chosen.add(entry.path);
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) chosen.add(parts.slice(0, i).join('/'));
  }
  return all.map((e) => e.path).filter((p) => chosen.has(p));
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const csvField = (value: string) => `"${value.replace(/"/g, '""')}"`;

/** What a container needs from its image's config. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
}

export interface PulledImage {
  /** <registry>/<repository>@<digest> */
  pinned: string;
  digest: string;
  /** The unpacked filesystem. */
  rootfs: string;
  config: ImageConfig;
}

/** Splits a reference into its repository (registry and path, without tag or digest) and its digest, if it has one. */
export function parseReference(reference: string): { repository: string; digest?: string } {
  const at = reference.indexOf('@');
  const named = at < 0 ? reference : reference.slice(0, at);
  const colon = named.lastIndexOf(':');
  const repository = colon > named.lastIndexOf('/') ? named.slice(0, colon) : named;
  return at < 0 ? { repository } : { repository, digest: reference.slice(at + 1) };
}

/**
 * Pulls an image into `cache`/sha256-<hex>/ (its flattened filesystem in rootfs/, its config in
 * config.json), once per digest: a digest never changes what it names. A reference by tag is
 * resolved to its digest first. Unpacked in a scratch folder and renamed in whole.
 */
export async function pullImage(cranePath: string, reference: string, cache: string): Promise<PulledImage> {
  const parsed = parseReference(reference);
  const digest = parsed.digest ?? (await imageDigest(cranePath, reference));
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`image ${reference} names digest ${digest}, which is not a sha256 digest`);
  const pinned = `${parsed.repository}@${digest}`;
  const dir = join(cache, digest.replace(':', '-'));
  const result = (config: ImageConfig): PulledImage => ({ pinned, digest, rootfs: join(dir, 'rootfs'), config });
  if (existsSync(join(dir, 'config.json'))) return result(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as ImageConfig);
  await mkdir(cache, { recursive: true });
  const scratch = await mkdtemp(`${dir}.partial-`);
  try {
    const raw = JSON.parse(await crane(cranePath, ['config', pinned])) as { config?: ImageConfig };
    await mkdir(join(scratch, 'rootfs'));
    await exportFilesystem(cranePath, pinned, join(scratch, 'rootfs'));
    await writeFile(join(scratch, 'config.json'), JSON.stringify(raw.config ?? {}, null, 2));
    await rm(dir, { recursive: true, force: true });
    await rename(scratch, dir);
    return result(raw.config ?? {});
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

/** `crane export <ref> -` unpacked into `dir` (the image's layers flattened, whiteouts applied). */
async function exportFilesystem(cranePath: string, pinned: string, dir: string): Promise<void> {
  const child = spawn(cranePath, ['export', '--insecure', pinned, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const unpacked = pipeline(child.stdout, tar.extract({ cwd: dir, preserveOwner: false })).then(() => undefined, (err: Error) => err);
  const [code, unpackError] = await Promise.all([exited, unpacked]);
  if (code !== 0) throw new Error(`crane export ${pinned} failed: ${stderr.trim() || `exit code ${code}`}`);
  if (unpackError) throw new Error(`unpacking ${pinned} failed: ${unpackError.message}`);
}

async function crane(cranePath: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cranePath, [...args, '--insecure'], { maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`crane ${args[0]} failed: ${(e.stderr ?? '').trim().split('\n').slice(-5).join(' ') || e.message}`);
  }
}
