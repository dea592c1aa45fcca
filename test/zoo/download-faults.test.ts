/**
 * Downloads under faults, with real `tsm zoo download` processes sharing one TSM_CACHE and a server on 127.0.0.1
 * that holds each body half-sent until the test lets it go: two processes on one file, a process killed
 * mid-download (SIGKILL, SIGTERM), a file that changes on the server between a kill and the next run. The
 * validator rules themselves are tested in-process in download.test.ts.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { urlCachePath } from '../../src/zoo/index.js';
import { startServer, type Route, type TestServer } from './http-server.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes (an LCG), different for each seed. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const SIZE = 2 * 1024 * 1024;
/** Sent after the gate opens: 64 KiB every 10 ms. */
const THROTTLE = { bytes: 64 * 1024, everyMs: 10 } as const;

/** Releases of every gate, so that a failing test cannot leave a download held forever. */
const gates: (() => void)[] = [];

/** A gate for {@link Route}: the server sends 256 KiB, then holds the rest until `release()`. */
function gate(): { readonly after: number; readonly open: Promise<void>; release(): void } {
  let release = (): void => {};
  const open = new Promise<void>((r) => (release = r));
  gates.push(release);
  return { after: 256 * 1024, open, release };
}

/** A test that fails instead of hanging (each `tsm` process takes a few seconds to start). */
const LIMIT = { timeout: 90_000 };

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every process a test started, so that a failed test leaves none running. */
const children: ChildProcess[] = [];

/** Starts `tsm zoo download <url>` with `TSM_CACHE=cache`. */
function download(url: string, cache: string): Run {
  const child = spawn(process.execPath, [join(repo, 'bin', 'tsm.js'), 'zoo', 'download', url], {
    cwd: repo,
    env: { ...process.env, TSM_CACHE: cache },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((done) => child.on('exit', (code, signal) => done({ code, signal }))),
  };
  child.stdout?.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (run.stderr += d.toString()));
  return run;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms; fails after `ms`. */
async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const sizeOf = (p: string): number => (existsSync(p) ? statSync(p).size : 0);

let server: TestServer;
let root: string;
before(async () => {
  server = await startServer({});
  root = await mkdtemp(join(tmpdir(), 'tsm-download-faults-'));
});
after(async () => {
  for (const release of gates) release();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await server.close();
  await rm(root, { recursive: true, force: true });
});

/** A fresh route and cache folder per test. */
async function setup(name: string, route: Route): Promise<{ url: string; cache: string; dest: string }> {
  server.setRoute(`/${name}/ckpt.pth`, route);
  const url = server.url(`/${name}/ckpt.pth`);
  const cache = await mkdtemp(join(root, `${name}-`));
  return { url, cache, dest: urlCachePath(url, cache) };
}
const requestsFor = (url: string) => server.requests.filter((r) => url.endsWith(r.path));

test('two `tsm zoo download` of one URL 0.5 s apart: one downloads, the other waits and uses its file', LIMIT, async () => {
  const body = bytes(SIZE, 11);
  const g = gate();
  const { url, cache, dest } = await setup('two', { body, gate: g, throttle: THROTTLE });
  const first = download(url, cache);
  await sleep(500);
  const second = download(url, cache);
  // Hold the first download until the second one waits for it or (without a lock) sends its own request.
  await until('the second process to wait or to download', () => /waiting/.test(first.stderr + second.stderr) || requestsFor(url).length > 1);
  g.release();
  const [a, b] = await Promise.all([first.exit, second.exit]);
  assert.deepEqual([a, b], [{ code: 0, signal: null }, { code: 0, signal: null }], `stderr:\n${first.stderr}\n---\n${second.stderr}`);
  assert.equal(first.stdout.trim(), dest);
  assert.equal(second.stdout.trim(), dest);
  assert.equal(sha256(await readFile(dest)), sha256(body), 'the cached file is the server file');
  assert.equal(requestsFor(url).length, 1, 'the file was fetched once');
  const waited = [first, second].filter((r) => /waiting for another download/.test(r.stderr));
  assert.equal(waited.length, 1, `exactly one process waits:\n${first.stderr}\n---\n${second.stderr}`);
  const other = waited[0] === first ? second : first;
  assert.match(waited[0].stderr, new RegExp(`waiting for another download of ckpt\\.pth \\(pid ${other.child.pid}\\)`));
  assert.deepEqual(await readdir(dirname(dest)), ['ckpt.pth'], 'no .part, .lock or temporary file is left');
});

test('the process holding a download is SIGKILLed: the waiting one takes over and resumes its .part', LIMIT, async () => {
  const body = bytes(SIZE, 12);
  const g = gate();
  const { url, cache, dest } = await setup('takeover', { body, gate: g });
  const first = download(url, cache);
  await until('the first download to write bytes', () => sizeOf(`${dest}.part`) > 100_000);
  const second = download(url, cache);
  await until('the second process to wait', () => /waiting for another download/.test(second.stderr));
  first.child.kill('SIGKILL');
  assert.equal((await first.exit).signal, 'SIGKILL');
  g.release();
  const b = await second.exit;
  assert.deepEqual(b, { code: 0, signal: null }, second.stderr);
  assert.equal(sha256(await readFile(dest)), sha256(body));
  const [r1, r2] = requestsFor(url);
  assert.equal(r1.headers.range, undefined);
  const from = Number(/^bytes=(\d+)-$/.exec(r2.headers.range ?? '')?.[1]);
  assert.ok(from > 100_000 && from <= 256 * 1024, `resumed at ${r2.headers.range}`);
  assert.equal(r2.headers['if-range'], server.etagOf(body), 'the resume is conditional on the ETag the .part began with');
  assert.deepEqual(await readdir(dirname(dest)), ['ckpt.pth']);
});

/** Kills a download once its `.part` has some bytes, then swaps the file on the server for `next`. */
async function killThenChange(name: string, route: Omit<Route, 'gate'>, next: Route): Promise<{ url: string; cache: string; dest: string }> {
  const g = gate();
  const s = await setup(name, { ...route, gate: g });
  const first = download(s.url, s.cache);
  await until('the download to write bytes', () => sizeOf(`${s.dest}.part`) > 100_000);
  first.child.kill('SIGKILL');
  assert.equal((await first.exit).signal, 'SIGKILL');
  g.release();
  server.setRoute(new URL(s.url).pathname, next);
  return s;
}

test('a .part from a file that changed on the server (new ETag) is not spliced: the next run starts over', LIMIT, async () => {
  const old = bytes(SIZE, 13);
  const changed = bytes(SIZE, 14);
  const { url, cache, dest } = await killThenChange('etag', { body: old }, { body: changed });
  const again = await download(url, cache).exit;
  assert.equal(again.code, 0);
  assert.equal(sha256(await readFile(dest)), sha256(changed), 'the cached file is the new server file');
  const last = requestsFor(url).at(-1);
  assert.match(last?.headers.range ?? '', /^bytes=\d+-$/, 'it asked to resume...');
  assert.equal(last?.headers['if-range'], server.etagOf(old), '...only if the file is still the one the .part began with');
});

test('SIGTERM during a download removes its lock; the next run resumes at once', LIMIT, async () => {
  const body = bytes(SIZE, 18);
  const g = gate();
  const { url, cache, dest } = await setup('sigterm', { body, gate: g });
  const first = download(url, cache);
  await until('the download to write bytes', () => sizeOf(`${dest}.part`) > 100_000);
  assert.ok(existsSync(`${dest}.lock`), 'a download holds a lock file');
  first.child.kill('SIGTERM');
  assert.equal((await first.exit).signal, 'SIGTERM');
  assert.equal(existsSync(`${dest}.lock`), false, 'the lock is released on SIGTERM');
  g.release();
  server.setRoute(new URL(url).pathname, { body });
  const again = download(url, cache);
  assert.equal((await again.exit).code, 0);
  assert.doesNotMatch(again.stderr, /waiting/);
  assert.match(again.stderr, /resuming at \d+ bytes/);
  assert.equal(sha256(await readFile(dest)), sha256(body));
});
