/**
 * Files are written to a temporary name in the same folder and renamed into place, so a killed or failed write
 * never leaves a half-written file under the real name. Temporary files of a killed write are deleted by the next
 * write into the same folder (see {@link removeStaleTemps}). Node only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { isProcessAlive } from './file-lock.js';
import { fileWriteError } from './output-path.js';

/** 8 hex digits of this host's name: a temporary file's pid is only judged on the host that wrote it. */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/**
 * Our temporary names: `.<name>.<pid>.<host tag>.<8 random hex>.tmp`, and `.<name>.<12 random hex>.tmp` from
 * earlier versions, which carry no pid.
 */
const TEMP_NAME = /^\..+\.(?:(\d+)\.([0-9a-f]{8})\.[0-9a-f]{8}|[0-9a-f]{12})\.tmp$/;

/**
 * A temporary file of our naming untouched for this long is left over whoever wrote it: a write goes out in one
 * piece and is renamed at once, so a live one is seconds old. 1 hour.
 */
export const STALE_TEMP_MS = 60 * 60_000;

/** A fresh temporary path next to `path`, named so that {@link removeStaleTemps} can tell whose it is. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${HOST_TAG}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Deletes the temporary files of our naming in `dir` that no write will ever rename: those whose writer was a
 * process of this host that no longer exists, and any (from another host or an earlier version) untouched for
 * {@link STALE_TEMP_MS}. Other files are never touched; failures are ignored. Node only.
 * @returns the paths deleted
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    const writerGone = m[1] !== undefined && m[2] === HOST_TAG && !isProcessAlive(Number(m[1]));
    if (writerGone || Date.now() - st.mtimeMs > STALE_TEMP_MS) {
      await rm(path, { force: true }).catch(() => {});
      removed.push(path);
    }
  }
  return removed;
}

/** Creates the folder of `path` and clears the temporary files killed writes left in it. */
async function prepareFolder(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await removeStaleTemps(dirname(path));
}

/** Runs `fill(tmp)` on a fresh temporary path next to `path`, then renames it to `path`. */
async function viaTemp(path: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await prepareFolder(path);
    await fill(tmp);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    // a bare EISDIR / ENOTDIR names neither the file the user asked for nor what is wrong with it
    throw await fileWriteError(path, err);
  }
}

/**
 * Writes `data` to `path` through a temporary file in the same folder and a rename, so a killed or failed
 * write never leaves a half-written file behind. Node only.
 * @throws {FileWriteError} naming `path` and what is wrong with it (a folder in the way, no permission, a full disk)
 * @example
 * await writeFileAtomic('out/metrics.json', JSON.stringify(metrics));
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await viaTemp(path, (tmp) => writeFile(tmp, data));
}

/**
 * Copies `src` to `dest` through a temporary file next to `dest` and a rename: `dest` is the old file or the
 * whole new one, never a partial copy. Node only.
 * @example
 * await copyFileAtomic('checkpoint/run/ckpt.best.pth.tar', 'checkpoint/run/ckpt.pth.tar');
 */
export async function copyFileAtomic(src: string, dest: string): Promise<void> {
  await viaTemp(dest, (tmp) => copyFile(src, tmp));
}
