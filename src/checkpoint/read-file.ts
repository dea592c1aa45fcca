/**
 * Checkpoint files on disk: reading `.pth` and `.npy` bytes with errors that name the file, and writing `.pth`
 * atomically. Node only; the parsers and encoders they call (./pth-reader.ts, ./pth-writer.ts) are browser-safe.
 */
import { readFile } from 'node:fs/promises';
import { CheckpointError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { type PthFile, type ReadPthOptions, parsePth } from './pth-reader.js';
import { type CheckpointContents, type RootContents, type WritePthOptions, encodePth } from './pth-writer.js';

/** The bytes of `path`. @throws {CheckpointError} `TSM_CHECKPOINT_IO` naming the file when it cannot be read */
export async function readCheckpointFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new CheckpointError('TSM_CHECKPOINT_IO', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Reads a `.pth` file. Node only.
 * @example
 * const ckpt = await readPth('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth');
 * const { stateDict, meta } = extractStateDict(ckpt);
 * @throws {CheckpointError} `TSM_CHECKPOINT_IO` when the file cannot be read, and everything {@link parsePth} throws
 */
export async function readPth(path: string, opts: ReadPthOptions = {}): Promise<PthFile> {
  return parsePth(await readCheckpointFile(path), path, opts);
}

/**
 * Writes a checkpoint to `path` atomically (temporary file, then rename). Node only.
 * @example
 * await writePth('ckpt/TSM_something_resnet50.pth', { stateDict: model.stateDict(), meta: { epoch: 3, arch: 'resnet50' } });
 * @throws {CheckpointError} `TSM_CHECKPOINT_IO` when the file cannot be written, and whatever {@link encodePth} throws
 */
export async function writePth(path: string, contents: CheckpointContents | RootContents, opts: WritePthOptions = {}): Promise<void> {
  const bytes = encodePth(contents, opts);
  try {
    await writeFileAtomic(path, bytes);
  } catch (cause) {
    throw new CheckpointError('TSM_CHECKPOINT_IO', `cannot write ${path}: ${(cause as Error).message}`, { cause });
  }
}
