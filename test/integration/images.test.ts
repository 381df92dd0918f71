import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/temporal';
import { buildLocalImage, imageDigest, pullImage, writeLayer } from '../../world/images';
import { startRegistry, type RunningRegistry } from '../../world/registry';
import { testTools } from '../support/worldFixtures';

let registry: RunningRegistry;
let dir: string;
const { crane, registry: registryBinary } = testTools();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-images-'));
  registry = await startRegistry({ binary: registryBinary, dir: join(dir, 'registry'), port: await freePort() });
});
afterAll(() => registry?.stop());

/** A small service tree: sources, a node_modules folder with a symlink, and an executable. */
async function serviceTree(root: string): Promise<string> {
  await mkdir(join(root, 'dist'), { recursive: true });
  await mkdir(join(root, 'node_modules/left-pad'), { recursive: true });
  await mkdir(join(root, 'node_modules/.bin'), { recursive: true });
  // An npm scope: tar.create would read "@scope" as an archive to append.
  await mkdir(join(root, 'node_modules/@scope/pkg'), { recursive: true });
  await writeFile(join(root, 'node_modules/@scope/pkg/index.js'), 'module.exports = 1;\n');
  await writeFile(join(root, 'dist/main.js'), 'console.log("hello")\n');
  await writeFile(join(root, 'package.json'), '{"name":"svc"}\n');
  await writeFile(join(root, 'README.md'), 'not shipped\n');
  await writeFile(join(root, 'node_modules/left-pad/index.js'), 'module.exports = (s) => s;\n');
  await symlink('../left-pad/index.js', join(root, 'node_modules/.bin/left-pad'));
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho run\n');
  await chmod(join(root, 'run.sh'), 0o755);
  return root;
}

test('layers are deterministic: the same files give the same digest whatever their times', async () => {
  const a = await serviceTree(join(dir, 'a'));
  const b = await serviceTree(join(dir, 'b'));
  const old = new Date('2001-02-03T04:05:06Z');
  await utimes(join(b, 'dist/main.js'), old, old);
  const layer = { from: a, to: '/app' };
  const first = await writeLayer(layer, join(dir, 'a1.tar.gz'));
  const again = await writeLayer(layer, join(dir, 'a2.tar.gz'));
  const other = await writeLayer({ from: b, to: '/app' }, join(dir, 'b.tar.gz'));
  expect(again).toBe(first);
  expect(other).toBe(first);
  // Entries are sorted, owned by 0:0, and placed under the target path.
  const listing = execFileSync('tar', ['-tvzf', join(dir, 'a1.tar.gz'), '--numeric-owner'], { encoding: 'utf8' }).trim().split('\n');
  const names = listing.map((l) => l.split(/\s+/).slice(5).join(' '));
  expect(names).toEqual([
    'app/README.md',
    'app/dist/',
    'app/dist/main.js',
    'app/node_modules/',
    'app/node_modules/.bin/',
    'app/node_modules/.bin/left-pad -> ../left-pad/index.js',
    'app/node_modules/@scope/',
    'app/node_modules/@scope/pkg/',
    'app/node_modules/@scope/pkg/index.js',
    'app/node_modules/left-pad/',
    'app/node_modules/left-pad/index.js',
    'app/package.json',
    'app/run.sh',
  ]);
  expect(listing.every((l) => l.split(/\s+/)[1] === '0/0')).toBe(true);
  await writeFile(join(b, 'dist/main.js'), 'console.log("changed")\n');
  expect(await writeLayer({ from: b, to: '/app' }, join(dir, 'b2.tar.gz'))).not.toBe(first);
});

test('an image is pushed by digest, rebuilt identically, and pulled back with its files and config', async () => {
  const tree = await serviceTree(join(dir, 'image'));
  const input = {
    crane,
    registry: registry.address,
    repository: 'svc',
    tag: 'abc123',
    layers: [
      { from: join(tree, 'node_modules'), to: '/app/node_modules' },
      { from: tree, to: '/app', include: ['dist/**', 'package.json', 'run.sh'] },
    ],
    entrypoint: ['node', 'dist/main.js'],
    workingDir: '/app',
    env: { NODE_ENV: 'production', LIST: 'a,b' },
  };
  const built = await buildLocalImage(input);
  expect(built.reference).toBe(`${registry.address}/svc:abc123`);
  expect(built.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(await imageDigest(crane, built.reference)).toBe(built.digest);
  expect(built.pinned).toBe(`${registry.address}/svc@${built.digest}`);
  // The same inputs, built again (even under another tag), are the same image.
  expect((await buildLocalImage({ ...input, tag: 'again' })).digest).toBe(built.digest);

  const pulled = await pullImage(crane, built.pinned, join(dir, 'cache'));
  expect(pulled).toMatchObject({ pinned: built.pinned, digest: built.digest, config: { Entrypoint: ['node', 'dist/main.js'], WorkingDir: '/app', Env: ['LIST=a,b', 'NODE_ENV=production'] } });
  expect(await readFile(join(pulled.rootfs, 'app/dist/main.js'), 'utf8')).toBe('console.log("hello")\n');
  expect(await readlink(join(pulled.rootfs, 'app/node_modules/.bin/left-pad'))).toBe('../left-pad/index.js');
  expect((await stat(join(pulled.rootfs, 'app/run.sh'))).mode & 0o777).toBe(0o755);
  // Only the included files of the second layer are there.
  await expect(stat(join(pulled.rootfs, 'app/README.md'))).rejects.toThrow(/ENOENT/);
  // A pull by tag resolves the digest; the cache is reused.
  expect((await pullImage(crane, built.reference, join(dir, 'cache'))).rootfs).toBe(pulled.rootfs);
  await expect(pullImage(crane, `${registry.address}/svc@sha256:${'1'.repeat(64)}`, join(dir, 'cache'))).rejects.toThrow(/MANIFEST_UNKNOWN|manifest unknown/i);
});
