import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import {
  DownloadError,
  ZOO,
  classifyWeightsSpec,
  isCached,
  resolveWeights,
  urlCachePath,
  zooCachePath,
  type ProgressEvent,
  type ZooEntry,
} from '../../src/zoo/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { closedPortUrl, startServer, type TestServer } from './http-server.js';

const FILE = 'TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_segment8_e100_dense.pth';
let fixture: Uint8Array;
let server: TestServer;
let root: string;

/** A copy of the real zoo entry for FILE, pointed at the local server, with the fixture's size and hash. */
function localEntry(urls: readonly string[], over: Partial<ZooEntry> = {}): ZooEntry {
  const real = ZOO.find((e) => e.file === FILE) as ZooEntry;
  return { ...real, urls, size: fixture.length, sha256: createHash('sha256').update(fixture).digest('hex'), ...over };
}

before(async () => {
  fixture = await readFile(fixturePath('tsm_mobilenetv2.pth'));
  server = await startServer({ [`/models/${FILE}`]: { body: fixture }, '/other/resnet18-f37072fd.pth': { body: fixture } });
  root = await mkdtemp(join(tmpdir(), 'tsm-resolve-'));
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

test('a zoo name downloads into <cacheDir>/<file>, with and without .pth, and then resolves from the cache', async () => {
  const cacheDir = join(root, 'zoo');
  const entry = localEntry([server.url(`/models/${FILE}`)]);
  const events: ProgressEvent[] = [];
  assert.equal(await isCached(entry, cacheDir), false);
  const path = await resolveWeights(entry.name, { cacheDir, zoo: [entry], onProgress: (e) => events.push(e) });
  assert.equal(path, join(cacheDir, FILE));
  assert.equal(path, zooCachePath(entry, cacheDir));
  assert.deepEqual(await readFile(path), Buffer.from(fixture));
  assert.equal(await isCached(entry, cacheDir), true);
  assert.deepEqual(
    [...new Set(events.map((e) => e.status))],
    ['initiate', 'download', 'progress', 'done'],
  );
  assert.deepEqual(events[0], { status: 'initiate', name: entry.name, file: FILE });
  assert.deepEqual(events.at(-1), { status: 'done', name: entry.name, file: FILE, path, cached: false });

  const requests = server.requests.length;
  const again: ProgressEvent[] = [];
  assert.equal(await resolveWeights(FILE, { cacheDir, zoo: [entry], onProgress: (e) => again.push(e) }), path);
  assert.equal(server.requests.length, requests);
  assert.deepEqual(again.map((e) => e.status), ['initiate', 'done']);
  assert.equal((again[1] as { cached: boolean }).cached, true);
});

test('offline: a cached file resolves without touching the network; an uncached one fails naming the URL', async () => {
  const cacheDir = join(root, 'offline');
  const dead = await closedPortUrl(`/models/${FILE}`);
  const entry = localEntry([dead]);
  await assert.rejects(resolveWeights(entry.name, { cacheDir, zoo: [entry] }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'network');
    assert.ok(e.message.includes(`cannot reach ${dead}`), e.message);
    return true;
  });
  await mkdir(cacheDir, { recursive: true });
  await writeFile(join(cacheDir, FILE), fixture);
  let fetched = false;
  const fetchImpl: typeof fetch = (...args) => ((fetched = true), fetch(...args));
  assert.equal(await resolveWeights(entry.name, { cacheDir, zoo: [entry], fetchImpl }), join(cacheDir, FILE));
  assert.equal(fetched, false);
});

test('a cached file whose size differs from the table is downloaded again', async () => {
  const cacheDir = join(root, 'stale');
  const entry = localEntry([server.url(`/models/${FILE}`)]);
  await mkdir(cacheDir, { recursive: true });
  await writeFile(join(cacheDir, FILE), fixture.subarray(0, 1000));
  assert.equal(await isCached(entry, cacheDir), false);
  const path = await resolveWeights(entry.name, { cacheDir, zoo: [entry] });
  assert.deepEqual(await readFile(path), Buffer.from(fixture));
});

test('a hash mismatch leaves no cached file behind', async () => {
  const cacheDir = join(root, 'badhash');
  const entry = localEntry([server.url(`/models/${FILE}`)], { sha256: '0'.repeat(64) });
  await assert.rejects(resolveWeights(entry.name, { cacheDir, zoo: [entry] }), (e: unknown) => e instanceof DownloadError && e.reason === 'hash');
  assert.equal(existsSync(join(cacheDir, FILE)), false);
  assert.equal(existsSync(join(cacheDir, `${FILE}.part`)), false);
  assert.equal(await isCached(entry, cacheDir), false);
});

test('a URL spec downloads to <cacheDir>/urls/<id>/<file name> and is cached by URL', async () => {
  const cacheDir = join(root, 'url');
  const url = server.url('/other/resnet18-f37072fd.pth');
  const events: ProgressEvent[] = [];
  const path = await resolveWeights(url, { cacheDir, zoo: [], onProgress: (e) => events.push(e) });
  assert.equal(path, urlCachePath(url, cacheDir));
  assert.match(path, /[\\/]urls[\\/][0-9a-f]{16}[\\/]resnet18-f37072fd\.pth$/);
  assert.deepEqual(await readFile(path), Buffer.from(fixture));
  assert.equal(events[0].name, 'resnet18-f37072fd');
  const requests = server.requests.length;
  assert.equal(await resolveWeights(url, { cacheDir, zoo: [] }), path);
  assert.equal(server.requests.length, requests);
  // same file name under another URL: another folder
  assert.notEqual(urlCachePath(`${url}?v=2`, cacheDir), path);
});

test('a URL that is a zoo entry URL shares the zoo cache file and its checks', async () => {
  const cacheDir = join(root, 'url-zoo');
  const dead = await closedPortUrl(`/models/${FILE}`);
  const entry = localEntry([dead, server.url(`/models/${FILE}`)]);
  const spec = await classifyWeightsSpec(server.url(`/models/${FILE}`), [entry]);
  assert.equal(spec.kind, 'url');
  assert.equal(spec.kind === 'url' && spec.entry, entry);
  const path = await resolveWeights(server.url(`/models/${FILE}`), { cacheDir, zoo: [entry] });
  assert.equal(path, join(cacheDir, FILE));
});

test('a path spec (plain or file://) is returned as an absolute path without events', async () => {
  const fx = fixturePath('tsm_mobilenetv2.pth');
  const events: ProgressEvent[] = [];
  assert.equal(await resolveWeights(fx, { cacheDir: join(root, 'unused'), onProgress: (e) => events.push(e) }), fx);
  assert.equal(await resolveWeights(pathToFileURL(fx).href), fx);
  assert.deepEqual(events, []);
  assert.equal(existsSync(join(root, 'unused')), false);
});

test('unknown specs are usage errors that list the zoo names', async () => {
  await assert.rejects(resolveWeights('TSM_kinetics_RGB_resnet18_nope'), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /is not a file, a URL or a zoo name/);
    assert.ok(e.message.includes('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50'), e.message);
    return true;
  });
  await assert.rejects(resolveWeights(root), (e: unknown) => e instanceof UsageError && /is a folder/.test(e.message));
  await assert.rejects(resolveWeights('ftp://example.org/x.pth'), (e: unknown) => e instanceof UsageError && /unsupported URL scheme/.test(e.message));
  // a zoo name with a folder in front is a path, not a zoo name
  await assert.rejects(resolveWeights(`missing-dir/${FILE}`), UsageError);
});

test('every real zoo name classifies as a zoo entry', async () => {
  for (const e of ZOO) {
    const spec = await classifyWeightsSpec(`${e.name}.pth`);
    assert.equal(spec.kind, 'zoo', e.name);
    assert.equal(spec.kind === 'zoo' && spec.entry.name, e.name);
  }
});
