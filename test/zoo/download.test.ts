import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DownloadError, downloadFile, type ProgressEvent } from '../../src/zoo/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { closedPortUrl, startServer, type Route, type TestServer } from './http-server.js';

/** Deterministic non-trivial bytes (an LCG), so a wrong offset shows up as a wrong hash. */
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const DATA = bytes(300_000);
let fixture: Uint8Array;
let server: TestServer;
let dir: string;

before(async () => {
  fixture = await readFile(fixturePath('tsm_mobilenetv2.pth'));
  server = await startServer({
    '/models/tsm_mobilenetv2.pth': { body: fixture },
    '/data.bin': { body: DATA },
    '/drop.bin': { body: DATA, dropAfter: 100_000 },
    '/drop-twice.bin': { body: DATA, dropAfter: 50_000, dropTimes: 2 },
    '/norange-drop.bin': { body: DATA, ignoreRange: true, dropAfter: 50_000 },
    '/chunked.bin': { body: DATA, noLength: true },
    '/page.html': { body: new TextEncoder().encode('<html>moved</html>'), contentType: 'text/html; charset=utf-8' },
  });
  dir = await mkdtemp(join(tmpdir(), 'tsm-download-'));
});
after(async () => {
  for (const release of gates) release();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const rangesSeen = (path: string): (string | undefined)[] => server.requests.filter((r) => r.path === path).map((r) => r.headers.range);

test('downloads a checkpoint, checks size and sha256, reports progress, leaves no .part', async () => {
  const dest = join(dir, 'full', 'tsm_mobilenetv2.pth');
  const events: ProgressEvent[] = [];
  const r = await downloadFile(server.url('/models/tsm_mobilenetv2.pth'), dest, {
    size: fixture.length,
    sha256: sha256(fixture),
    onProgress: (e) => events.push(e),
  });
  assert.deepEqual(await readFile(dest), Buffer.from(fixture));
  assert.equal(r.sha256, sha256(fixture));
  assert.equal(r.size, fixture.length);
  assert.equal(r.resumedFrom, 0);
  assert.deepEqual(await readdir(join(dir, 'full')), ['tsm_mobilenetv2.pth'], 'no .part, .part.json or .lock is left');
  assert.equal(events[0].status, 'download');
  assert.equal(events.at(-1)?.status, 'done');
  const progress = events.filter((e) => e.status === 'progress');
  assert.ok(progress.length > 2, `expected several progress events, got ${progress.length}`);
  const last = progress.at(-1);
  assert.ok(last?.status === 'progress');
  assert.equal(last.loaded, fixture.length);
  assert.equal(last.total, fixture.length);
  assert.equal(last.progress, 100);
  // loaded never goes backwards
  for (let i = 1; i < progress.length; i++) {
    assert.ok((progress[i] as { loaded: number }).loaded >= (progress[i - 1] as { loaded: number }).loaded);
  }
  assert.equal(rangesSeen('/models/tsm_mobilenetv2.pth')[0], undefined);
});

test('a dropped connection keeps .part; re-running resumes with a Range request and completes', async () => {
  const dest = join(dir, 'drop', 'data.bin');
  const url = server.url('/drop.bin');
  const err = await downloadFile(url, dest, { retries: 0, sha256: sha256(DATA) }).then(
    () => assert.fail('expected the first download to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DownloadError, String(err));
  assert.equal(err.code, 'TSM_DOWNLOAD');
  assert.equal(err.reason, 'dropped');
  // NOTE: the server sends 100000 bytes before it drops; the client keeps what it read before the socket error
  // (an errored web stream discards chunks it had queued but not yet handed out), so `kept` can be less.
  const kept = (await stat(`${dest}.part`)).size;
  assert.ok(kept > 0 && kept <= 100_000, `kept ${kept} bytes`);
  assert.match(err.message, new RegExp(`${url.replace(/[.]/g, '\\.')}.*dropped after ${kept} of 300000 bytes`));
  assert.match(err.message, /re-run to resume/);
  assert.equal(existsSync(dest), false);

  const events: ProgressEvent[] = [];
  const r = await downloadFile(url, dest, { retries: 0, sha256: sha256(DATA), onProgress: (e) => events.push(e) });
  assert.equal(r.resumedFrom, kept);
  assert.deepEqual(rangesSeen('/drop.bin'), [undefined, `bytes=${kept}-`]);
  assert.equal(server.requests.at(-1)?.headers['if-range'], server.etagOf(DATA), 'the resume holds only for the same file');
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));
  assert.equal(existsSync(`${dest}.part`), false);
  const first = events.find((e) => e.status === 'download');
  assert.ok(first?.status === 'download');
  assert.equal(first.resumeFrom, kept);
});

test('drops are resumed automatically within `retries`', async () => {
  const dest = join(dir, 'retry', 'data.bin');
  const r = await downloadFile(server.url('/drop-twice.bin'), dest, { retries: 2, retryDelayMs: 5, sha256: sha256(DATA) });
  const ranges = rangesSeen('/drop-twice.bin');
  assert.equal(ranges.length, 3);
  assert.equal(ranges[0], undefined);
  const [a, b] = ranges.slice(1).map((h) => Number(/^bytes=(\d+)-$/.exec(h ?? '')?.[1]));
  assert.ok(a > 0 && a <= 50_000 && b >= a && b <= a + 50_000, `resumed at ${a} then ${b}`);
  assert.equal(r.resumedFrom, b);
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));
});

test('a server that ignores Range (200) makes the download start over, not append', async () => {
  const dest = join(dir, 'norange', 'data.bin');
  const url = server.url('/norange-drop.bin');
  await assert.rejects(downloadFile(url, dest, { retries: 0 }), (e: unknown) => e instanceof DownloadError && e.reason === 'dropped');
  const kept = (await stat(`${dest}.part`)).size;
  const r = await downloadFile(url, dest, { sha256: sha256(DATA) });
  assert.deepEqual(rangesSeen('/norange-drop.bin'), [undefined, `bytes=${kept}-`]);
  assert.equal(r.resumedFrom, 0);
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));
});

test('a .part left by an older version (no record of its validator) is not resumed', async () => {
  const dest = join(dir, 'legacy', 'data.bin');
  await mkdir(join(dir, 'legacy'), { recursive: true });
  await writeFile(`${dest}.part`, bytes(1234, 99)); // bytes of some other file, which must not survive
  const r = await downloadFile(server.url('/data.bin'), dest, { sha256: sha256(DATA) });
  assert.equal(server.requests.at(-1)?.headers.range, undefined);
  assert.equal(r.resumedFrom, 0);
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));
});

/** Releases of every gate opened by a test, so that a failing test cannot leave a download held forever. */
const gates: (() => void)[] = [];

/** A gate for a {@link Route}: the server sends `after` bytes and holds the rest until `release()`. */
function gate(after: number): { readonly after: number; readonly open: Promise<void>; release(): void } {
  let release = (): void => {};
  const open = new Promise<void>((r) => (release = r));
  gates.push(release);
  return { after, open, release };
}

/** A test that fails instead of hanging when a download never ends. */
const LIMIT = { timeout: 30_000 };

/** Starts a download of `path` and aborts it once its `.part` has more than 100 kB (the server holds the rest). */
async function interrupted(path: string, route: Route, dest: string): Promise<number> {
  const g = gate(200_000);
  server.setRoute(path, { ...route, gate: g });
  const ac = new AbortController();
  const running = downloadFile(server.url(path), dest, { signal: ac.signal });
  for (let i = 0; ((await stat(`${dest}.part`).catch(() => undefined))?.size ?? 0) <= 100_000; i++) {
    if (i > 500) assert.fail('the download never wrote 100 kB');
    await new Promise((r) => setTimeout(r, 10));
  }
  ac.abort();
  await assert.rejects(running);
  g.release();
  return (await stat(`${dest}.part`)).size;
}

test('without an ETag or Last-Modified a .part is never resumed: the file may have changed', LIMIT, async () => {
  const dest = join(dir, 'novalidator', 'data.bin');
  await interrupted('/novalidator.bin', { body: bytes(300_000, 5), noEtag: true }, dest);
  server.setRoute('/novalidator.bin', { body: DATA, noEtag: true });
  const r = await downloadFile(server.url('/novalidator.bin'), dest);
  assert.equal(server.requests.at(-1)?.headers.range, undefined);
  assert.equal(r.resumedFrom, 0);
  assert.equal(r.sha256, sha256(DATA));
});

test('a changed file (ETag differs) is fetched whole: If-Range turns the resume into a 200', LIMIT, async () => {
  const dest = join(dir, 'changed', 'data.bin');
  const old = bytes(300_000, 6);
  const kept = await interrupted('/changed.bin', { body: old }, dest);
  server.setRoute('/changed.bin', { body: DATA });
  const r = await downloadFile(server.url('/changed.bin'), dest);
  const last = server.requests.at(-1);
  assert.deepEqual([last?.headers.range, last?.headers['if-range']], [`bytes=${kept}-`, server.etagOf(old)]);
  assert.equal(r.resumedFrom, 0);
  assert.equal(r.sha256, sha256(DATA));
});

test('with only Last-Modified, the resume is conditional on it and keeps the bytes', LIMIT, async () => {
  const dest = join(dir, 'lastmod', 'data.bin');
  const lastModified = 'Tue, 01 Jul 2025 10:00:00 GMT';
  const kept = await interrupted('/lastmod.bin', { body: DATA, noEtag: true, lastModified }, dest);
  server.setRoute('/lastmod.bin', { body: DATA, noEtag: true, lastModified });
  const r = await downloadFile(server.url('/lastmod.bin'), dest);
  const last = server.requests.at(-1);
  assert.deepEqual([last?.headers.range, last?.headers['if-range']], [`bytes=${kept}-`, lastModified]);
  assert.equal(r.resumedFrom, kept);
  assert.equal(r.sha256, sha256(DATA));
});

test('two downloads of one file in one process: the second waits, then reuses the file', LIMIT, async () => {
  const dest = join(dir, 'twice', 'data.bin');
  const g = gate(100_000);
  server.setRoute('/twice.bin', { body: DATA, gate: g });
  const events: ProgressEvent[] = [];
  const first = downloadFile(server.url('/twice.bin'), dest, { reuseExisting: true });
  const second = downloadFile(server.url('/twice.bin'), dest, { reuseExisting: true, onProgress: (e) => events.push(e) });
  for (let i = 0; !events.some((e) => e.status === 'wait'); i++) {
    if (i > 500) assert.fail('the second download never waited');
    await new Promise((r) => setTimeout(r, 10));
  }
  g.release();
  const [a, b] = await Promise.all([first, second]);
  assert.deepEqual([a.cached, b.cached], [false, true]);
  assert.equal(b.sha256, sha256(DATA));
  assert.equal(rangesSeen('/twice.bin').length, 1);
  const wait = events.find((e) => e.status === 'wait');
  assert.ok(wait?.status === 'wait' && wait.pid === process.pid && wait.file === 'data.bin');
  assert.deepEqual(events.at(-1), { status: 'done', name: 'data.bin', file: 'data.bin', path: dest, cached: true });
});

test('a download held by another live process longer than lockWaitMs fails as locked, naming its pid', LIMIT, async () => {
  const dest = join(dir, 'locked', 'data.bin');
  const g = gate(100_000);
  server.setRoute('/locked.bin', { body: DATA, gate: g });
  const first = downloadFile(server.url('/locked.bin'), dest);
  await new Promise((r) => setTimeout(r, 200));
  await assert.rejects(downloadFile(server.url('/locked.bin'), dest, { lockWaitMs: 300 }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'locked');
    assert.match(e.message, new RegExp(`pid ${process.pid} on .* has been downloading data\\.bin`));
    return true;
  });
  g.release();
  assert.equal((await first).sha256, sha256(DATA));
});

test('a wrong size fails before writing anything and names the URL and both sizes', async () => {
  const dest = join(dir, 'size', 'data.bin');
  const url = server.url('/data.bin');
  await assert.rejects(downloadFile(url, dest, { size: DATA.length + 1 }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'size');
    assert.ok(e.message.includes(url), e.message);
    assert.match(e.message, /serves 300000 bytes, but data\.bin should be 300001 bytes/);
    return true;
  });
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.part`), false);
});

test('without Content-Length the size is checked after the download; a mismatch deletes .part', async () => {
  const dest = join(dir, 'chunked', 'data.bin');
  await assert.rejects(downloadFile(server.url('/chunked.bin'), dest, { size: DATA.length - 10, retries: 0 }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'size');
    assert.match(e.message, /sent more than the 299990 bytes data\.bin should have/);
    return true;
  });
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.part`), false);
  const r = await downloadFile(server.url('/chunked.bin'), dest, { size: DATA.length });
  assert.equal(r.sha256, sha256(DATA));
});

test('a hash mismatch deletes the download: no file in place, no .part to resume from', async () => {
  const dest = join(dir, 'hash', 'data.bin');
  const url = server.url('/data.bin');
  const wrong = sha256(bytes(10));
  await assert.rejects(downloadFile(url, dest, { sha256: wrong }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'hash');
    assert.ok(e.message.includes(url), e.message);
    assert.ok(e.message.includes(wrong) && e.message.includes(sha256(DATA)), e.message);
    assert.match(e.message, /re-running downloads it again/);
    return true;
  });
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.part`), false);
});

test('a sha256 prefix (torchvision file-name style) is accepted; a malformed one is a TypeError', async () => {
  const dest = join(dir, 'prefix', 'data.bin');
  const r = await downloadFile(server.url('/data.bin'), dest, { sha256: sha256(DATA).slice(0, 8).toUpperCase() });
  assert.equal(r.sha256, sha256(DATA));
  await assert.rejects(downloadFile(server.url('/data.bin'), dest, { sha256: 'xyz' }), TypeError);
});

test('HTTP 404 names the URL and the status', async () => {
  const url = server.url('/missing.pth');
  await assert.rejects(downloadFile(url, join(dir, '404', 'missing.pth')), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'http');
    assert.equal(e.status, 404);
    assert.equal(e.url, url);
    assert.match(e.message, new RegExp(`${url.replace(/[.]/g, '\\.')} answered HTTP 404`));
    return true;
  });
  assert.equal(existsSync(join(dir, '404', 'missing.pth.part')), false);
});

test('an HTML page is refused as content', async () => {
  await assert.rejects(downloadFile(server.url('/page.html'), join(dir, 'html', 'x.pth')), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'content');
    assert.match(e.message, /HTML page/);
    return true;
  });
  assert.equal(existsSync(join(dir, 'html', 'x.pth')), false);
});

test('a complete .part left by a killed run is finished without fetching it again (416)', async () => {
  const dest = join(dir, 'complete', 'data.bin');
  await mkdir(join(dir, 'complete'), { recursive: true });
  await writeFile(`${dest}.part`, DATA);
  // what the killed run recorded when the .part began
  await writeFile(`${dest}.part.json`, JSON.stringify({ url: server.url('/data.bin'), etag: server.etagOf(DATA), total: DATA.length }));
  const before = server.requests.length;
  const r = await downloadFile(server.url('/data.bin'), dest, { sha256: sha256(DATA) });
  assert.equal(server.requests.length, before + 1);
  assert.equal(server.requests.at(-1)?.headers.range, `bytes=${DATA.length}-`);
  assert.equal(server.requests.at(-1)?.headers['if-range'], server.etagOf(DATA));
  assert.equal(r.resumedFrom, DATA.length);
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));
  assert.deepEqual(await readdir(join(dir, 'complete')), ['data.bin']);
});

test('mirrors are tried in order; all failing lists each URL', async () => {
  const dead = await closedPortUrl('/data.bin');
  const dest = join(dir, 'mirror', 'data.bin');
  const r = await downloadFile([dead, server.url('/data.bin')], dest);
  assert.equal(r.url, server.url('/data.bin'));
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));

  const missing = server.url('/missing.bin');
  await assert.rejects(downloadFile([dead, missing], join(dir, 'mirror', 'missing.bin')), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'network');
    assert.match(e.message, /from any of its 2 URLs/);
    assert.ok(e.message.includes(`cannot reach ${dead}`) && /ECONNREFUSED/.test(e.message), e.message);
    assert.ok(e.message.includes(`${missing} answered HTTP 404`), e.message);
    return true;
  });
});
