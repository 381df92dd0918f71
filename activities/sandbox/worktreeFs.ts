/**
 * File access inside a run's worktree that a symlink cannot redirect and a race cannot escape.
 *
 * The worktree's contents are untrusted (agents and sandboxed commands write them), and Slipway
 * touches them as its own, more privileged user. So no path is ever resolved by name from the
 * root: every folder is opened by descriptor, one component at a time, with O_NOFOLLOW, and the
 * next component is opened relative to that descriptor through `/proc/self/fd/<fd>/<name>` (the
 * kernel resolves that link to the open folder itself: Node's openat). Swapping a folder for a
 * symlink between a check and a write changes nothing: there is no check by name to race.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { posix, sep } from 'node:path';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
/** O_NONBLOCK: opening a FIFO planted in the worktree must not hang the worker; fstat then refuses it. */
const READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const WRITE_FLAGS = O_WRONLY | O_NOFOLLOW | O_NONBLOCK;
const UPDATE_FLAGS = O_RDWR | O_NOFOLLOW | O_NONBLOCK;

/** A refused path or file; its message is meant for the model or the person who gave the path. */
export class WorktreePathError extends Error {
  override name = 'WorktreePathError';
}

/** `.git` in any spelling git itself would treat as one (case, trailing dots/spaces, the NTFS short name). */
const GIT_NAME = /^(\.git[. ]*|git~\d+)$/i;

const at = (dir: FileHandle, name: string) => `/proc/self/fd/${dir.fd}/${name}`;

/**
 * The components of a path relative to the worktree, refusing absolute paths, anything that
 * climbs out, `.git`, and paths the caller protects (e.g. what the repository's config points to).
 */
export function worktreeComponents(path: string, protectedPaths: string[] = []): string[] {
  if (typeof path !== 'string' || path.trim() === '') throw new WorktreePathError('path is required');
  if (path.includes('\0')) throw new WorktreePathError('the path contains a NUL byte');
  if (posix.isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path)) throw new WorktreePathError(`absolute paths are refused: give a path relative to the repository root (got ${path})`);
  const normal = posix.normalize(path.replaceAll('\\', '/'));
  if (normal === '..' || normal.startsWith('../')) throw new WorktreePathError(`${path} is outside the workspace`);
  const parts = normal.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => GIT_NAME.test(p))) throw new WorktreePathError(`${path} is inside .git: the repository's own files are never read or written by tools`);
  const joined = parts.join('/');
  const hit = protectedPaths.find((p) => joined === p || joined.startsWith(`${p}/`));
  if (hit !== undefined) throw new WorktreePathError(`${path} is refused: the repository's git config points at ${hit}`);
  return parts;
}

async function openRoot(root: string): Promise<{ handle: FileHandle; real: string }> {
  const real = await realpath(root);
  return { handle: await open(real, DIR_FLAGS), real };
}

function refuse(err: unknown, shown: string, what: 'folder' | 'file'): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') throw new WorktreePathError(`${shown} is a symlink: tools never follow symlinks (one could lead outside the workspace)`);
  if (code === 'ENOTDIR') throw new WorktreePathError(`${shown} is not a folder`);
  if (code === 'ENOENT') throw new WorktreePathError(`${shown} does not exist`);
  if (code === 'EISDIR') throw new WorktreePathError(`${shown} is a folder`);
  if (code === 'ENXIO') throw new WorktreePathError(`${shown} is not a regular ${what}`);
  throw err;
}

/** O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR: say which it was (lstat never follows the last component). */
async function refuseFolder(err: unknown, dir: FileHandle, name: string, shown: string): Promise<never> {
  if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' && (await lstat(at(dir, name)).then((i) => i.isSymbolicLink(), () => false))) {
    throw new WorktreePathError(`${shown} is a symlink: tools never follow symlinks (one could lead outside the workspace)`);
  }
  return refuse(err, shown, 'folder');
}

/** Opens the folder `name` inside `dir` without following a symlink; creates it when asked. */
async function openChild(dir: FileHandle, name: string, shown: string, create: boolean): Promise<FileHandle> {
  try {
    return await open(at(dir, name), DIR_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) return refuseFolder(err, dir, name, shown);
  }
  // mkdir never follows a symlink in the last component (EEXIST), and the open below checks what is there now.
  await mkdir(at(dir, name), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return open(at(dir, name), DIR_FLAGS).catch((err) => refuseFolder(err, dir, name, shown));
}

/** The real path of an open descriptor must lie inside the worktree (belt and braces on top of O_NOFOLLOW). */
async function verifyInside(handle: FileHandle, realRoot: string, shown: string): Promise<void> {
  const actual = (await readlink(`/proc/self/fd/${handle.fd}`)).replace(/ \(deleted\)$/, '');
  if (actual !== realRoot && !actual.startsWith(realRoot + sep)) throw new WorktreePathError(`${shown} resolves outside the workspace`);
}

/**
 * Runs `fn` with the open folder that holds the path's last component (the root itself for `.`).
 * Every descriptor opened on the way is closed again.
 */
async function withFolder<T>(
  root: string,
  parts: string[],
  options: { create: boolean },
  fn: (folder: FileHandle, realRoot: string) => Promise<T>,
): Promise<T> {
  const { handle: rootHandle, real } = await openRoot(root);
  const opened: FileHandle[] = [rootHandle];
  try {
    let current = rootHandle;
    for (let i = 0; i < parts.length; i++) {
      current = await openChild(current, parts[i] as string, parts.slice(0, i + 1).join('/'), options.create);
      opened.push(current);
    }
    await verifyInside(current, real, parts.join('/') || '.');
    return await fn(current, real);
  } finally {
    await Promise.all(opened.map((h) => h.close().catch(() => undefined)));
  }
}

export type EntryKind = 'file' | 'folder' | 'symlink' | 'other' | 'missing';

/** What a path is, without following it. */
export async function kindOf(root: string, path: string, protectedPaths: string[] = []): Promise<EntryKind> {
  const parts = worktreeComponents(path, protectedPaths);
  if (parts.length === 0) return 'folder';
  const name = parts.pop() as string;
  try {
    return await withFolder(root, parts, { create: false }, async (folder) => {
      const entry = (await readdir(`/proc/self/fd/${folder.fd}`, { withFileTypes: true })).find((e) => e.name === name);
      if (entry === undefined) return 'missing';
      return entry.isSymbolicLink() ? 'symlink' : entry.isDirectory() ? 'folder' : entry.isFile() ? 'file' : 'other';
    });
  } catch (err) {
    if (err instanceof WorktreePathError && /does not exist$/.test(err.message)) return 'missing';
    throw err;
  }
}

export interface FolderEntry {
  name: string;
  kind: Exclude<EntryKind, 'missing'>;
}

/** The entries of a folder in the worktree. */
export async function listFolder(root: string, path: string, protectedPaths: string[] = []): Promise<FolderEntry[]> {
  const parts = worktreeComponents(path, protectedPaths);
  return withFolder(root, parts, { create: false }, async (folder) =>
    (await readdir(`/proc/self/fd/${folder.fd}`, { withFileTypes: true })).map((e) => ({
      name: e.name,
      kind: e.isSymbolicLink() ? 'symlink' : e.isDirectory() ? 'folder' : e.isFile() ? 'file' : 'other',
    })),
  );
}

/** Reads up to maxBytes from an open regular file; a file that is (or grows) larger is refused. */
async function readCapped(handle: FileHandle, shown: string, maxBytes: number): Promise<Buffer> {
  const info = await handle.stat();
  if (!info.isFile()) throw new WorktreePathError(`${shown} is not a regular file`);
  if (info.size > maxBytes) throw new WorktreePathError(`${shown} is ${info.size} bytes, over the ${maxBytes}-byte limit`);
  const buffer = Buffer.alloc(maxBytes + 1);
  let length = 0;
  while (length < buffer.length) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  if (length > maxBytes) throw new WorktreePathError(`${shown} is over the ${maxBytes}-byte limit`);
  return buffer.subarray(0, length);
}

/** Reads a regular file of the worktree (never through a symlink, never more than maxBytes). */
export async function readWorktreeFile(root: string, path: string, maxBytes: number, protectedPaths: string[] = []): Promise<string> {
  const parts = worktreeComponents(path, protectedPaths);
  const name = parts.pop();
  if (name === undefined) throw new WorktreePathError(`${path} is a folder`);
  return withFolder(root, parts, { create: false }, async (folder, realRoot) => {
    const handle = await open(at(folder, name), READ_FLAGS).catch((err) => refuse(err, path, 'file'));
    try {
      await verifyInside(handle, realRoot, path);
      return (await readCapped(handle, path, maxBytes)).toString('utf8');
    } finally {
      await handle.close().catch(() => undefined);
    }
  });
}

/** Opens an existing file for writing only when it is a regular file with no other hard link (which could lie outside). */
async function openExistingForWrite(folder: FileHandle, name: string, shown: string, flags: number): Promise<FileHandle> {
  const handle = await open(at(folder, name), flags).catch((err) => refuse(err, shown, 'file'));
  const info = await handle.stat();
  if (!info.isFile() || info.nlink !== 1) {
    await handle.close().catch(() => undefined);
    throw new WorktreePathError(info.isFile() ? `${shown} has ${info.nlink} hard links: it is refused, as another of them may lie outside the workspace` : `${shown} is not a regular file`);
  }
  return handle;
}

async function replaceContent(handle: FileHandle, content: Buffer): Promise<void> {
  await handle.truncate(0);
  let written = 0;
  while (written < content.length) written += (await handle.write(content, written, content.length - written, written)).bytesWritten;
}

/**
 * Writes a file of the worktree, creating missing folders (`mkdir -p`) on the way. A new file is
 * created with O_CREAT|O_EXCL|O_NOFOLLOW; an existing one is truncated only once it is verified to
 * be a regular file.
 */
export async function writeWorktreeFile(root: string, path: string, content: string, maxBytes: number, protectedPaths: string[] = []): Promise<'created' | 'overwrote'> {
  const bytes = Buffer.from(content);
  if (bytes.length > maxBytes) throw new WorktreePathError(`content is ${bytes.length} bytes, over the ${maxBytes}-byte limit`);
  const parts = worktreeComponents(path, protectedPaths);
  const name = parts.pop();
  if (name === undefined) throw new WorktreePathError(`${path} is a folder`);
  return withFolder(root, parts, { create: true }, async (folder, realRoot) => {
    let handle: FileHandle;
    let outcome: 'created' | 'overwrote' = 'created';
    try {
      handle = await open(at(folder, name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') refuse(err, path, 'file');
      handle = await openExistingForWrite(folder, name, path, WRITE_FLAGS);
      outcome = 'overwrote';
    }
    try {
      await verifyInside(handle, realRoot, path);
      await replaceContent(handle, bytes);
      return outcome;
    } finally {
      await handle.close().catch(() => undefined);
    }
  });
}

/**
 * Rewrites an existing regular file through one descriptor: read (capped), `change`, then write
 * back, refusing a result over maxBytes. `change` returns the new text or throws to refuse.
 */
export async function updateWorktreeFile(root: string, path: string, maxBytes: number, change: (text: string) => string, protectedPaths: string[] = []): Promise<void> {
  const parts = worktreeComponents(path, protectedPaths);
  const name = parts.pop();
  if (name === undefined) throw new WorktreePathError(`${path} is a folder`);
  await withFolder(root, parts, { create: false }, async (folder, realRoot) => {
    const handle = await openExistingForWrite(folder, name, path, UPDATE_FLAGS);
    try {
      await verifyInside(handle, realRoot, path);
      const next = Buffer.from(change((await readCapped(handle, path, maxBytes)).toString('utf8')));
      if (next.length > maxBytes) throw new WorktreePathError(`the result would be ${next.length} bytes, over the ${maxBytes}-byte limit`);
      await replaceContent(handle, next);
    } finally {
      await handle.close().catch(() => undefined);
    }
  });
}

/**
 * Visits the regular files below a folder of the worktree, depth first, never following a
 * symlink and skipping folders named in `skip`. `visit` returns false to stop the walk.
 */
export async function walkWorktree(
  root: string,
  path: string,
  options: { skip: Set<string>; maxBytes: number; protectedPaths?: string[] },
  visit: (file: string, read: () => Promise<string>) => Promise<boolean>,
): Promise<void> {
  const parts = worktreeComponents(path, options.protectedPaths);
  const { handle: rootHandle, real } = await openRoot(root);
  const walk = async (folder: FileHandle, prefix: string): Promise<boolean> => {
    const entries = (await readdir(`/proc/self/fd/${folder.fd}`, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const shown = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (options.skip.has(entry.name) || GIT_NAME.test(entry.name) || entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) {
        const child = await open(at(folder, entry.name), DIR_FLAGS).catch(() => undefined);
        if (child === undefined) continue;
        try {
          if (!(await walk(child, shown))) return false;
        } finally {
          await child.close().catch(() => undefined);
        }
      } else if (entry.isFile()) {
        const read = async () => {
          const handle = await open(at(folder, entry.name), READ_FLAGS).catch((err) => refuse(err, shown, 'file'));
          try {
            return (await readCapped(handle, shown, options.maxBytes)).toString('utf8');
          } finally {
            await handle.close().catch(() => undefined);
          }
        };
        if (!(await visit(shown, read))) return false;
      }
    }
    return true;
  };
  const opened: FileHandle[] = [rootHandle];
  try {
    let current = rootHandle;
    for (let i = 0; i < parts.length; i++) {
      current = await openChild(current, parts[i] as string, parts.slice(0, i + 1).join('/'), false);
      opened.push(current);
    }
    await verifyInside(current, real, path);
    await walk(current, parts.join('/'));
  } finally {
    await Promise.all(opened.map((h) => h.close().catch(() => undefined)));
  }
}
