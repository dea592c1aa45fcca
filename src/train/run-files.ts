/**
 * The folders of a training run and what guards them: one run at a time per folder (a lock file in each), and
 * the checkpoints main.py writes (`ckpt.pth.tar`, `ckpt.best.pth.tar`). Node only.
 */
import { mkdir, rmdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type CheckpointContents, writePth } from '../checkpoint/index.js';
import { CheckpointError, LockError } from '../errors.js';
import { copyFileAtomic } from '../util/atomic-write.js';
import { type FileLock, acquireFileLock } from '../util/file-lock.js';

/** The lock file a run keeps in each of its folders while it runs. */
export const RUN_LOCK = '.tsm-train.lock';

/** The folders a run writes: `<rootLog>/<storeName>` and `<rootModel>/<storeName>` (main.py's defaults `log`, `checkpoint`). */
export function runFolders(o: { readonly rootLog?: string; readonly rootModel?: string }, storeName: string): { readonly logDir: string; readonly modelDir: string } {
  return { logDir: join(o.rootLog ?? 'log', storeName), modelDir: join(o.rootModel ?? 'checkpoint', storeName) };
}

/** The run folders held by {@link lockRunFolders}. */
export interface RunFoldersLock {
  /** Releases the folders (and removes those this lock created, when the run left them empty). */
  release(): Promise<void>;
}

/**
 * Takes a run's folders for this process, creating them: a lock file ({@link RUN_LOCK}) in each, so a second
 * run into the same `--root-model` / `--root-log` folder is refused while this one runs, whether it would start
 * over or `--resume`. A run that has ended (or was killed: its lock is stale once its pid is gone) leaves the
 * folders free. Node only.
 * @throws {LockError} `TSM_LOCKED` naming the folder and the pid of the run holding it
 */
export async function lockRunFolders(dirs: readonly string[]): Promise<RunFoldersLock> {
  const locks: FileLock[] = [];
  /** Folders this call created, deepest first, with the first one `mkdir` created above each. */
  const created: { readonly dir: string; readonly top: string }[] = [];
  const release = async (): Promise<void> => {
    for (const lock of locks.splice(0)) await lock.release();
    for (const { dir, top } of created.splice(0)) await removeEmptyFolders(dir, top);
  };
  try {
    for (const dir of [...new Set(dirs.map((d) => resolve(d)))]) {
      const top = await mkdir(dir, { recursive: true });
      if (top !== undefined) created.push({ dir, top });
      locks.push(await acquireFileLock(join(dir, RUN_LOCK), { purpose: 'tsm train' }));
    }
  } catch (err) {
    await release();
    if (!(err instanceof LockError) || err.holder === undefined) throw err;
    const h = err.holder;
    const where = h.hostname === hostname() ? '' : ` on ${h.hostname}`;
    throw new LockError(
      `the run folder ${dirname(err.path)} is in use by another \`tsm train\` (pid ${h.pid}${where}, started ${new Date(h.started).toISOString()}); ` +
        'wait for it to end or stop it, or give this run other folders (rootModel, rootLog, suffix). ' +
        'Once it has ended, pass its ckpt.pth.tar as resume to continue it',
      err.path,
      h,
      { cause: err, options: ['rootModel', 'rootLog', 'suffix', 'resume'] },
    );
  }
  return { release };
}

/** Removes `dir` and its parents up to `top` while they are empty (folders a run created and never used). */
async function removeEmptyFolders(dir: string, top: string): Promise<void> {
  for (let d = dir; d.startsWith(top); d = dirname(d)) {
    if (!(await rmdir(d).then(() => true, () => false)) || d === top) return;
  }
}

/** Checkpoint file names inside `<rootModel>/<storeName>/`, as main.py names them. */
export const CHECKPOINT_FILES = Object.freeze({ last: 'ckpt.pth.tar', best: 'ckpt.best.pth.tar' });

/** Where {@link saveRunCheckpoint} put a checkpoint. */
export interface SavedCheckpoint {
  readonly last: string;
  /** Set when the checkpoint was also the best one. */
  readonly best?: string;
}

/**
 * Saves main.py's `save_checkpoint`: `ckpt.pth.tar`, and `ckpt.best.pth.tar` when `isBest`. Both go through a
 * temporary file and a rename, so a kill leaves each file either as it was or whole. A new best is written first
 * and `ckpt.pth.tar` copied from it: a kill in between leaves `ckpt.pth.tar` at the previous epoch, whose
 * `best_prec1` is the previous best, so a resumed run repeats the epoch and writes the best file again. (The other
 * order would leave a `ckpt.pth.tar` recording a best accuracy no best file holds, and a resumed run never
 * rewrites it.) Node only.
 * @returns the paths written
 * @throws {CheckpointError} `TSM_CHECKPOINT_IO` when a file cannot be written
 */
export async function saveRunCheckpoint(modelDir: string, ckpt: CheckpointContents, isBest: boolean): Promise<SavedCheckpoint> {
  const last = join(modelDir, CHECKPOINT_FILES.last);
  if (!isBest) {
    await writePth(last, ckpt);
    return { last };
  }
  const best = join(modelDir, CHECKPOINT_FILES.best);
  await writePth(best, ckpt);
  try {
    await copyFileAtomic(best, last);
  } catch (cause) {
    throw new CheckpointError('TSM_CHECKPOINT_IO', `cannot write ${last}: ${(cause as Error).message}`, { cause });
  }
  return { last, best };
}
