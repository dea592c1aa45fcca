/**
 * A fault injector, loaded with `node --import` into a child process: the first file write or copy whose target's
 * name contains `$TSM_TEST_KILL_DURING_WRITE` writes half of its bytes and then SIGKILLs the process, as a kill in
 * the middle of a save would. Covers `fs.writeFile(Sync)` and `fs.copyFile(Sync)`, in both the callback and the
 * promise APIs' ESM bindings (through `syncBuiltinESMExports`).
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';

const needle = process.env.TSM_TEST_KILL_DURING_WRITE;
const { writeFileSync, copyFileSync } = fs;
const { writeFile, copyFile } = fs.promises;

/** Writes the first half of `data` to `path` and dies. */
function halfThenKill(path: string, data: Uint8Array): never {
  writeFileSync(path, data.subarray(0, data.length >> 1));
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: the process was killed');
}

const hit = (path: unknown): path is string => typeof path === 'string' && needle !== undefined && basename(path).includes(needle);
const asBytes = (data: unknown): Uint8Array => (typeof data === 'string' ? Buffer.from(data) : (data as Uint8Array));

if (needle) {
  fs.writeFileSync = ((path: unknown, data: unknown, ...rest: unknown[]) =>
    hit(path) ? halfThenKill(path, asBytes(data)) : (writeFileSync as (...a: unknown[]) => void)(path, data, ...rest)) as typeof fs.writeFileSync;
  fs.copyFileSync = ((src: fs.PathLike, dest: unknown, ...rest: unknown[]) =>
    hit(dest) ? halfThenKill(dest, fs.readFileSync(src)) : (copyFileSync as (...a: unknown[]) => void)(src, dest, ...rest)) as typeof fs.copyFileSync;
  fs.promises.writeFile = (async (path: unknown, data: unknown, ...rest: unknown[]) =>
    hit(path) ? halfThenKill(path, asBytes(data)) : (writeFile as (...a: unknown[]) => Promise<void>)(path, data, ...rest)) as typeof fs.promises.writeFile;
  fs.promises.copyFile = (async (src: fs.PathLike, dest: unknown, ...rest: unknown[]) =>
    hit(dest) ? halfThenKill(dest, fs.readFileSync(src)) : (copyFile as (...a: unknown[]) => Promise<void>)(src, dest, ...rest)) as typeof fs.promises.copyFile;
  syncBuiltinESMExports();
}
