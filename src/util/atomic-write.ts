import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { fileWriteError } from './output-path.js';

/**
 * Writes `data` to `path` through a temporary file in the same folder and a rename, so a killed or failed
 * write never leaves a half-written file behind. Node only.
 * @throws {FileWriteError} naming `path` and what is wrong with it (a folder in the way, no permission, a full disk)
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    // a bare EISDIR / ENOTDIR names neither the file the user asked for nor what is wrong with it
    throw await fileWriteError(path, err);
  }
}
