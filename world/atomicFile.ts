import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Replaces a file in one step (write beside it, then rename), so a reader never sees half of it. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const scratch = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(scratch, text);
  await rename(scratch, file);
}
