/**
 * Checks that a path can be written before any work starts, and turns file-system errors of a write into
 * messages that name the path. Node only.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FileWriteError, UsageError } from '../errors.js';

/** What an output path names: one file written by the command, or a folder it writes files into. */
export type OutputKind = 'file' | 'folder';

/** Options of {@link checkOutputPath}. */
export interface CheckOutputOptions {
  /** What the path should be. */
  readonly kind: OutputKind;
  /** How the user gave the path, for the message: a flag (`--output`) or an argument (`<out>`). */
  readonly flag: string;
}

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** The closest existing path at or above `path`, with its stat (the root always exists). */
async function closestExisting(path: string): Promise<{ path: string; isDirectory: boolean }> {
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      return { path: p, isDirectory: (await stat(p)).isDirectory() };
    } catch (err) {
      // ENOTDIR: an ancestor is a file; keep walking up to find it
      if ((errCode(err) !== 'ENOENT' && errCode(err) !== 'ENOTDIR') || dirname(p) === p) throw err;
    }
  }
}

/** Why a folder cannot take new entries, or undefined when it can. */
async function notWritable(dir: string): Promise<string | undefined> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    return errCode(err) === 'EROFS' ? 'is on a read-only file system' : 'is not writable';
  }
}

/**
 * Checks that the command can write `path` as a `kind`, before it starts its work: a file path must not be a
 * folder, a folder path must not be a file, no folder on the way may be a file, and the folder that will hold the
 * new entry must be writable. Folders that do not exist yet are fine (writes create them).
 * @throws {UsageError} naming the flag, the path and the problem
 * @example await checkOutputPath(opts.output, { kind: 'file', flag: '--output' });
 */
export async function checkOutputPath(path: string, opts: CheckOutputOptions): Promise<void> {
  const { kind, flag } = opts;
  const what = `${flag} ${path}`;
  let found: { path: string; isDirectory: boolean };
  try {
    found = await closestExisting(path);
  } catch (cause) {
    throw new UsageError(`cannot write ${what}: ${(cause as Error).message}`, { cause });
  }
  const self = found.path === resolve(path);
  if (self && kind === 'file' && found.isDirectory) {
    throw new UsageError(`${what} is a folder; pass the path of the file to write`);
  }
  if (self && kind === 'folder' && !found.isDirectory) {
    throw new UsageError(`${what} is a file; pass a folder (it is created when missing)`);
  }
  if (!self && !found.isDirectory) throw new UsageError(`cannot create ${what}: ${found.path} is a file, not a folder`);
  // a file is replaced by a rename in its folder; a new entry is created in the closest existing folder
  const dir = self && kind === 'file' ? dirname(found.path) : found.path;
  const problem = await notWritable(dir);
  if (problem) throw new UsageError(`cannot write ${what}: the folder ${dir} ${problem}`);
}

/** The same check for several paths (each `[path, kind, flag]`; undefined paths are skipped). */
export async function checkOutputPaths(paths: readonly (readonly [string | undefined, OutputKind, string])[]): Promise<void> {
  for (const [path, kind, flag] of paths) if (path !== undefined) await checkOutputPath(path, { kind, flag });
}

/**
 * A {@link FileWriteError} for an error of writing `path`, saying in words what is wrong with the path when the
 * error code tells (a folder in the way, a file where a folder should be, no permission, a full disk).
 */
export async function fileWriteError(path: string, cause: unknown): Promise<FileWriteError> {
  const code = errCode(cause);
  let why: string;
  if (code === 'EISDIR') why = `${path} is a folder`;
  else if (code === 'ENOTDIR' || code === 'EEXIST') {
    const found = await closestExisting(dirname(path)).catch(() => undefined);
    why = found && !found.isDirectory ? `${found.path} is a file, not a folder` : (cause as Error).message;
  } else if (code === 'EACCES' || code === 'EPERM') why = `permission denied (${(cause as Error).message})`;
  else if (code === 'EROFS') why = 'read-only file system';
  else if (code === 'ENOSPC') why = 'no space left on the device';
  else why = (cause as Error)?.message ?? String(cause);
  return new FileWriteError(`cannot write ${path}: ${why}`, { cause });
}
