import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { LockError } from '../../src/errors.js';
import { acquireFileLock, isProcessAlive, readLockHolder } from '../../src/util/file-lock.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir = '';
before(() => (dir = mkdtempSync(join(tmpdir(), 'tsm-file-lock-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  assert.equal(isProcessAlive(pid), false);
  return pid;
}

/** Writes a lock file as another process would have, `ageMs` old. */
function plantLock(path: string, holder: { pid: number; hostname: string }, ageMs = 0): void {
  writeFileSync(path, `${JSON.stringify({ ...holder, started: Date.now() - ageMs })}\n`);
  const t = new Date(Date.now() - ageMs);
  utimesSync(path, t, t);
}

test('the lock file records pid, host and start; a second taker is refused with a LockError naming the pid', async () => {
  const path = join(dir, 'a.lock');
  const lock = await acquireFileLock(path, { purpose: 'tsm train' });
  const rec = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  assert.deepEqual([rec.pid, rec.hostname, rec.purpose], [process.pid, hostname(), 'tsm train']);
  assert.ok(Math.abs(Number(rec.started) - Date.now()) < 60_000);
  await assert.rejects(acquireFileLock(path), (e: unknown) => {
    assert.ok(e instanceof LockError);
    assert.equal(e.code, 'TSM_LOCKED');
    assert.equal(e.holder?.pid, process.pid);
    assert.match(e.message, new RegExp(`held by pid ${process.pid} on .* \\(tsm train\\) since`));
    return true;
  });
  assert.equal((await readLockHolder(path))?.pid, process.pid);
  await lock.release();
  await lock.release();
  assert.equal(existsSync(path), false);
  await (await acquireFileLock(path)).release();
});

test('a waiter is told who holds the lock once, and takes it when the holder releases it', async () => {
  const path = join(dir, 'wait.lock');
  const first = await acquireFileLock(path);
  const told: number[] = [];
  const t0 = Date.now();
  setTimeout(() => void first.release(), 300);
  const second = await acquireFileLock(path, { waitMs: 10_000, pollMs: 20, onWait: (h) => told.push(h.pid) });
  assert.ok(Date.now() - t0 >= 250, 'it waited for the release');
  assert.deepEqual(told, [process.pid]);
  await second.release();
});

test('a wait gives up after waitMs with a LockError', async () => {
  const path = join(dir, 'timeout.lock');
  const first = await acquireFileLock(path);
  await assert.rejects(acquireFileLock(path, { waitMs: 150, pollMs: 20 }), LockError);
  await first.release();
});

test('a lock whose owner on this host is dead is stale and taken at once', async () => {
  const path = join(dir, 'dead.lock');
  plantLock(path, { pid: deadPid(), hostname: hostname() });
  assert.equal(await readLockHolder(path), undefined);
  const lock = await acquireFileLock(path);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
  await lock.release();
});

test("another host's lock is respected while it is refreshed, and stale once it is not for staleMs", async () => {
  const path = join(dir, 'remote.lock');
  plantLock(path, { pid: 1, hostname: 'some-other-host' }, 1000);
  await assert.rejects(acquireFileLock(path, { staleMs: 60_000 }), (e: unknown) => e instanceof LockError && /on some-other-host/.test(e.message));
  plantLock(path, { pid: 1, hostname: 'some-other-host' }, 120_000);
  await (await acquireFileLock(path, { staleMs: 60_000 })).release();
});

test('an empty lock file is one being written: waited for briefly, then stale', async () => {
  const path = join(dir, 'empty.lock');
  writeFileSync(path, '');
  const t0 = Date.now();
  const lock = await acquireFileLock(path);
  const waited = Date.now() - t0;
  assert.ok(waited >= 1500, `waited ${waited} ms for the writer to fill it in`);
  await lock.release();
});

test('the holder refreshes the mtime; release leaves a lock that is no longer its own alone', async () => {
  const path = join(dir, 'refresh.lock');
  const lock = await acquireFileLock(path, { refreshMs: 50 });
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(path, old, old);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(Date.now() - statSync(path).mtimeMs < 5_000, 'refreshed');
  plantLock(path, { pid: 1, hostname: 'some-other-host' });
  await lock.release();
  assert.equal(existsSync(path), true, "someone else's lock is not deleted");
});

test('many waiters on one stale lock: exactly one holds it at a time', async () => {
  const path = join(dir, 'race.lock');
  plantLock(path, { pid: deadPid(), hostname: hostname() });
  let holding = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      const lock = await acquireFileLock(path, { waitMs: 20_000, pollMs: 5 });
      holding++;
      most = Math.max(most, holding);
      await new Promise((r) => setTimeout(r, 30));
      holding--;
      await lock.release();
    }),
  );
  assert.equal(most, 1);
  assert.equal(existsSync(path), false);
});

/** Starts a process that takes the lock, prints "held", then does `then`. */
function holder(path: string, then: string): ReturnType<typeof spawn> {
  const mod = pathToFileURL(join(repo, 'src', 'util', 'file-lock.ts')).href;
  const code = `const { acquireFileLock } = await import(${JSON.stringify(mod)}); await acquireFileLock(${JSON.stringify(path)}); console.log('held'); ${then}`;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
}
const heldBy = (child: ReturnType<typeof spawn>): Promise<void> => new Promise((r) => child.stdout?.once('data', () => r()));
const exitOf = (child: ReturnType<typeof spawn>): Promise<NodeJS.Signals | number | null> =>
  new Promise((r) => child.once('exit', (code, signal) => r(signal ?? code)));

test('SIGTERM and SIGINT release the lock and still end the process by that signal; so does a plain exit', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const path = join(dir, `${signal}.lock`);
    const child = holder(path, 'setInterval(() => {}, 1000);');
    const exited = exitOf(child);
    await heldBy(child);
    assert.equal(existsSync(path), true);
    child.kill(signal);
    assert.equal(await exited, signal);
    assert.equal(existsSync(path), false, `released on ${signal}`);
  }
  const path = join(dir, 'exit.lock');
  const child = holder(path, 'process.exitCode = 3;');
  assert.equal(await exitOf(child), 3);
  assert.equal(existsSync(path), false, 'released on exit');
});
