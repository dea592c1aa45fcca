/**
 * One process at a time on a cache entry or a run folder: a lock file created exclusively (`O_EXCL`), holding the
 * owner's pid, host name and start time. A lock is stale, and is broken by the next process that wants it, when
 * its owner is a process of this host that no longer exists, or when its file has not been refreshed for
 * `staleMs` (the owner refreshes the mtime every `refreshMs`; this covers other hosts on a shared folder and a
 * pid reused by an unrelated process). Locks are released by {@link FileLock.release}, on process exit, and on
 * SIGINT / SIGTERM. Node only.
 *
 * NOTE: proper-lockfile would do the exclusive create and the mtime refresh, but it records no owner, so it could
 * neither name the process holding a run folder nor tell at once that a SIGKILLed owner is gone (its only stale
 * rule is the mtime, so a waiter would sit out the whole stale period after every kill).
 */
import { readFileSync, rmSync } from 'node:fs';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { LockError, type LockHolder } from '../errors.js';

/** Options of {@link acquireFileLock}. */
export interface FileLockOptions {
  /** What this process does with the lock, shown to a process that finds it held. */
  readonly purpose?: string;
  /** How long to wait for a held lock, in ms; 0 refuses at once. @default 0 */
  readonly waitMs?: number;
  /** Called when a wait starts, and again whenever another process takes over the lock meanwhile. */
  readonly onWait?: (holder: LockHolder) => void;
  /** How often a waiter looks again, in ms. @default 100 */
  readonly pollMs?: number;
  /** A lock file not refreshed for this long is stale, whoever holds it, in ms. @default 300000 (5 minutes) */
  readonly staleMs?: number;
  /** How often the holder refreshes its lock file's mtime, in ms. @default 10000 */
  readonly refreshMs?: number;
  /** Stops a wait; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** A held lock. */
export interface FileLock {
  /** The lock file. */
  readonly path: string;
  /** What the lock file says about this process. */
  readonly owner: LockHolder;
  /** Stops refreshing and deletes the lock file when it is still this lock's. Calling it again does nothing. */
  release(): Promise<void>;
}

const DEFAULT_STALE_MS = 5 * 60_000;
const DEFAULT_REFRESH_MS = 10_000;
/** An empty or unreadable lock file younger than this is one whose owner is still writing it. */
const CREATE_GRACE_MS = 2_000;
/** The guard taken while breaking a stale lock lives for milliseconds; one this old was left by a kill. */
const BREAK_GUARD_STALE_MS = 10_000;

/** Lock files this process holds, path → the exact text it wrote (so it never deletes someone else's). */
const held = new Map<string, string>();

/**
 * Takes the lock file `path`: creates it exclusively with this process's pid, host and start time, breaking a
 * stale lock first. When the lock is held, waits up to `waitMs` (calling `onWait` with the holder), polling
 * every `pollMs`; a holder that dies meanwhile is noticed at the next poll.
 * @param path the lock file; its folder must exist
 * @returns the lock; call `release()` when done (exit and SIGINT / SIGTERM release it too)
 * @throws {LockError} `TSM_LOCKED` when the lock is still held after `waitMs` (at once with the default 0); its
 *   `holder` says who holds it
 * @example
 * const lock = await acquireFileLock(`${dest}.lock`, { waitMs: 60_000, onWait: (h) => console.log(`waiting for pid ${h.pid}`) });
 * try { await work(); } finally { await lock.release(); }
 */
export async function acquireFileLock(path: string, opts: FileLockOptions = {}): Promise<FileLock> {
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let announced: string | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    const owner: LockHolder = { pid: process.pid, hostname: hostname(), started: Date.now(), ...(opts.purpose ? { purpose: opts.purpose } : {}) };
    const text = `${JSON.stringify(owner)}\n`;
    if (await createExclusive(path, text)) return holdLock(path, owner, text, opts.refreshMs ?? DEFAULT_REFRESH_MS);

    const seen = await inspectLock(path);
    if (seen === undefined) continue; // released between our create and our look
    if (isStale(seen, staleMs)) {
      if (await breakStaleLock(path, seen.text, staleMs)) continue;
    } else if (seen.holder === undefined) {
      // NOTE: created but not yet written: the owner is between its open and its write. Not a reason to refuse.
    } else if (Date.now() >= deadline) {
      const h = seen.holder;
      throw new LockError(`${path} is held by pid ${h.pid} on ${h.hostname}${h.purpose ? ` (${h.purpose})` : ''} since ${new Date(h.started).toISOString()}`, path, h);
    } else {
      const key = `${seen.holder.hostname}:${seen.holder.pid}:${seen.holder.started}`;
      if (key !== announced) opts.onWait?.(seen.holder);
      announced = key;
    }
    await sleep(seen.holder === undefined ? 20 : (opts.pollMs ?? 100), opts.signal);
  }
}

/**
 * Reads who holds the lock file `path`, or undefined when there is none (or it is stale). Node only.
 * @param staleMs @default 300000
 */
export async function readLockHolder(path: string, staleMs = DEFAULT_STALE_MS): Promise<LockHolder | undefined> {
  const seen = await inspectLock(path);
  return seen && !isStale(seen, staleMs) ? seen.holder : undefined;
}

/**
 * Whether process `pid` exists on this host. EPERM means it exists but belongs to another user.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates `path` with `text` unless it exists; false when it does. */
async function createExclusive(path: string, text: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(text);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(path, { force: true });
    throw err;
  }
  await fh.close();
  return true;
}

interface SeenLock {
  readonly text: string;
  /** Undefined when the file is empty or not a lock we wrote (still being written, or damaged). */
  readonly holder?: LockHolder;
  readonly mtimeMs: number;
}

async function inspectLock(path: string): Promise<SeenLock | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, holder: parseHolder(text), mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isInteger(v.pid) && typeof v.hostname === 'string' && typeof v.started === 'number') return v as LockHolder;
  } catch {
    // an empty or half-written file
  }
  return undefined;
}

function isStale(seen: SeenLock, staleMs: number): boolean {
  const age = Date.now() - seen.mtimeMs;
  if (age > staleMs) return true;
  if (seen.holder === undefined) return age > CREATE_GRACE_MS;
  return seen.holder.hostname === hostname() && !isProcessAlive(seen.holder.pid);
}

/**
 * Deletes the stale lock `path` if it still holds `seenText`. Two waiters may judge the same lock stale; the
 * guard file makes the re-check and the delete one step, so the slower one cannot delete the lock the faster
 * one has just taken. Returns whether the lock is gone.
 */
async function breakStaleLock(path: string, seenText: string, staleMs: number): Promise<boolean> {
  const guard = `${path}.break`;
  if (!(await createExclusive(guard, String(process.pid)))) {
    const st = await stat(guard).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAK_GUARD_STALE_MS) await rm(guard, { force: true });
    return false;
  }
  try {
    const now = await inspectLock(path);
    if (now === undefined) return true;
    if (now.text !== seenText || !isStale(now, staleMs)) return false;
    await rm(path, { force: true });
    return true;
  } finally {
    await rm(guard, { force: true });
  }
}

function holdLock(path: string, owner: LockHolder, text: string, refreshMs: number): FileLock {
  held.set(path, text);
  if (held.size === 1) installReleaseHooks();
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, refreshMs);
  timer.unref();
  let released = false;
  return {
    path,
    owner,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      held.delete(path);
      if (held.size === 0) removeReleaseHooks();
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current === text) await rm(path, { force: true });
    },
  };
}

/** Deletes every lock file this process still holds; synchronous, for `exit` and signals. */
function releaseAllSync(): void {
  for (const [path, text] of held) {
    try {
      if (readFileSync(path, 'utf8') === text) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  }
  held.clear();
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Releases the locks, then lets the signal do what it would have done. When another listener handles the
 * signal (an app that shuts down on its own), the locks stay until that shutdown's exit.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  releaseAllSync();
  removeReleaseHooks();
  process.kill(process.pid, signal);
}

function installReleaseHooks(): void {
  process.on('exit', releaseAllSync);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function removeReleaseHooks(): void {
  process.off('exit', releaseAllSync);
  for (const s of SIGNALS) process.off(s, onSignal);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
