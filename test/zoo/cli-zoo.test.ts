import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ZOO } from '../../src/zoo/index.js';
import { startServer, type TestServer } from './http-server.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
const tsm = (args: string[], env: Record<string, string>) =>
  run(process.execPath, [join(repo, 'bin', 'tsm.js'), ...args], { cwd: repo, env: { ...process.env, ...env } });

const CACHED = 'TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50';
let cache: string;
let server: TestServer;
const BODY = new Uint8Array(70_000).map((_, i) => (i * 31) & 255);

before(async () => {
  cache = await mkdtemp(join(tmpdir(), 'tsm-cli-zoo-'));
  await writeFile(join(cache, `${CACHED}.pth`), 'cached bytes');
  server = await startServer({ '/ckpt/TSM_ucf101_RGB_resnet50_avg_segment8_e25.pth': { body: BODY } });
});
after(async () => {
  await server.close();
  await rm(cache, { recursive: true, force: true });
});

test('tsm zoo --json lists every entry with dataset, frames, arch, top-1 and cache state', async () => {
  const { stdout } = await tsm(['zoo', '--json'], { TSM_CACHE: cache });
  const rows = JSON.parse(stdout) as { name: string; dataset: string; frames: number; arch: string; top1: number | null; cached: boolean; path: string }[];
  assert.deepEqual(rows.map((r) => r.name), ZOO.map((e) => e.name));
  const hit = rows.find((r) => r.name === CACHED);
  assert.deepEqual(
    hit && { dataset: hit.dataset, frames: hit.frames, arch: hit.arch, top1: hit.top1, cached: hit.cached, path: hit.path },
    { dataset: 'kinetics', frames: 8, arch: 'resnet50', top1: 71.2, cached: true, path: join(cache, `${CACHED}.pth`) },
  );
  assert.equal(rows.filter((r) => r.cached).length, 1);
  assert.equal(rows.find((r) => r.name === 'mobilenetv2_jester_online')?.top1, null);
});

test('tsm zoo prints a table with the cache folder', async () => {
  const { stdout } = await tsm(['zoo'], { TSM_CACHE: cache });
  const lines = stdout.split('\n');
  assert.match(lines[0], /^NAME\s+DATASET\s+FRAMES\s+ARCH\s+TOP-1\s+CLIPSxCROPS\s+CACHED$/);
  assert.match(stdout, new RegExp(`${CACHED}\\s+Kinetics-400\\s+8\\s+resnet50\\s+71\\.2%\\s+1x1\\s+yes`));
  assert.match(stdout, /TSM_somethingv2_RGB_resnet101_shift8_blockres_avg_segment8_e45\s+Something-Something V2\s+8\s+resnet101\s+63\.3%\s+2x3\s+no/);
  assert.ok(stdout.includes(`cache: ${cache}`));
});

test('tsm zoo download fetches a URL into the cache and prints its path; an unknown name exits 2', async () => {
  const url = server.url('/ckpt/TSM_ucf101_RGB_resnet50_avg_segment8_e25.pth');
  const { stdout, stderr } = await tsm(['zoo', 'download', url], { TSM_CACHE: cache });
  const path = stdout.trim();
  assert.match(path, /urls[\\/][0-9a-f]{16}[\\/]TSM_ucf101_RGB_resnet50_avg_segment8_e25\.pth$/);
  assert.deepEqual(await readFile(path), Buffer.from(BODY));
  assert.ok(stderr.includes(`downloading ${url}`), stderr);
  await assert.rejects(tsm(['zoo', 'download', 'no_such_model'], { TSM_CACHE: cache }), (e: unknown) => {
    const err = e as { code: number; stderr: string };
    assert.equal(err.code, 2);
    assert.match(err.stderr, /^error TSM_USAGE: weights "no_such_model" is not a file, a URL or a zoo name/);
    return true;
  });
});
