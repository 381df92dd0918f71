import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kindOf, listFolder, readWorktreeFile } from '../sandbox/worktreeFs';

export interface Layout {
  up: string;
  down: string;
}

export interface MigrationFile {
  version: string;
  name: string;
  upPath: string;
  downPath?: string;
  up: string;
  down?: string;
  /** sqlx's `-- no-transaction` marker: statements such as CREATE INDEX CONCURRENTLY cannot run in one. */
  transactional: boolean;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function patternOf(template: string): RegExp {
  const parts = template.split(/(\{version\}|\{name\})/);
  const source = parts.map((p) => (p === '{version}' ? '(?<version>\\d+)' : p === '{name}' ? '(?<name>[A-Za-z0-9_.-]+?)' : escape(p))).join('');
  return new RegExp(`^${source}$`);
}

export function fileNameOf(template: string, version: string, name: string): string {
  return template.replace('{version}', version).replace('{name}', name);
}

/** Where migration files come from: a plain folder (Slipway's own), or a run's worktree, read without following symlinks. */
export interface MigrationSource {
  list(): Promise<string[]>;
  read(name: string): Promise<string>;
}

export function folderSource(dir: string): MigrationSource {
  return {
    list: () =>
      readdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [] as string[];
        throw err;
      }),
    read: (name) => readFile(join(dir, name), 'utf8'),
  };
}

/** The migrations folder of a worktree the agents write: a symlinked file or folder is refused, never followed. */
export function worktreeSource(root: string, relativeDir: string): MigrationSource {
  return {
    list: async () => ((await kindOf(root, relativeDir)) === 'folder' ? (await listFolder(root, relativeDir)).filter((e) => e.kind === 'file' || e.kind === 'symlink').map((e) => e.name) : []),
    read: (name) => readWorktreeFile(root, `${relativeDir}/${name}`, MAX_MIGRATION_BYTES),
  };
}

const MAX_MIGRATION_BYTES = 4 * 1024 * 1024;

/** The service's migrations in version order, pairing each up file with its down file. */
export async function readMigrations(dir: string, layout: Layout, source: MigrationSource = folderSource(dir)): Promise<MigrationFile[]> {
  const names = await source.list();
  const up = patternOf(layout.up);
  const down = patternOf(layout.down);
  const downs = new Map<string, string>();
  for (const file of names) {
    const m = down.exec(file);
    if (m?.groups) downs.set(m.groups.version ?? '', file);
  }
  const migrations: MigrationFile[] = [];
  for (const file of names) {
    const m = up.exec(file);
    if (!m?.groups || down.test(file)) continue;
    const version = m.groups.version ?? '';
    const text = await source.read(file);
    const downFile = downs.get(version);
    migrations.push({
      version,
      name: m.groups.name ?? '',
      upPath: join(dir, file),
      up: text,
      transactional: !/^\s*--\s*no-transaction\b/.test(text),
      ...(downFile ? { downPath: join(dir, downFile), down: await source.read(downFile) } : {}),
    });
  }
  return migrations.sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : BigInt(a.version) > BigInt(b.version) ? 1 : 0));
}
