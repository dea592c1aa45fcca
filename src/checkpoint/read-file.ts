/** Reading checkpoint files (`.pth`, `.npy`) with errors that name the file. Node only. */
import { readFile } from 'node:fs/promises';
import { CheckpointError } from '../errors.js';

/** The bytes of `path`. @throws {CheckpointError} `TSM_CHECKPOINT_IO` naming the file when it cannot be read */
export async function readCheckpointFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new CheckpointError('TSM_CHECKPOINT_IO', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}
