import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DownloadError, downloadFile, type ProgressEvent } from '../../src/zoo/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { closedPortUrl, startServer, type TestServer } from './http-server.js';

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
    '/norange.bin': { body: DATA, ignoreRange: true },
    '/chunked.bin': { body: DATA, noLength: true },
    '/page.html': { body: new TextEncoder().encode('<html>moved</html>'), contentType: 'text/html; charset=utf-8' },
  });
  dir = await mkdtemp(join(tmpdir(), 'tsm-download-'));
});
after(async () => {
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
  assert.equal(existsSync(`${dest}.part`), false);
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
  await mkdir(join(dir, 'norange'), { recursive: true });
  await writeFile(`${dest}.part`, bytes(1234, 99)); // stale bytes that must not survive
  const r = await downloadFile(server.url('/norange.bin'), dest, { sha256: sha256(DATA) });
  assert.deepEqual(rangesSeen('/norange.bin'), ['bytes=1234-']);
  assert.equal(r.resumedFrom, 0);
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));
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
  const before = server.requests.length;
  const r = await downloadFile(server.url('/data.bin'), dest, { sha256: sha256(DATA) });
  assert.equal(server.requests.length, before + 1);
  assert.equal(server.requests.at(-1)?.headers.range, `bytes=${DATA.length}-`);
  assert.equal(r.resumedFrom, DATA.length);
  assert.deepEqual(await readFile(dest), Buffer.from(DATA));
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
