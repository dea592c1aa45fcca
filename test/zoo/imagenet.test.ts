import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { DownloadError, IMAGENET_WEIGHTS, resolvePretrain } from '../../src/zoo/index.js';
import { startServer, type TestServer } from './http-server.js';

let server: TestServer;
let root: string;
before(async () => {
  server = await startServer({ '/fake.pth': { body: new Uint8Array(1000).fill(7) } });
  root = await mkdtemp(join(tmpdir(), 'tsm-imagenet-'));
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

test('torchvision ResNet weights carry the sha256 prefix of their file name', () => {
  for (const arch of ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']) {
    const w = IMAGENET_WEIGHTS[arch];
    assert.equal(w.url, `https://download.pytorch.org/models/${w.file}`);
    assert.equal(w.file, `${arch}-${w.sha256}.pth`);
  }
  assert.equal(IMAGENET_WEIGHTS.resnet50.sha256, '0676ba61');
  assert.ok(IMAGENET_WEIGHTS.mobilenetv2 && IMAGENET_WEIGHTS.BNInception);
});

test('scratch needs nothing; a path is a file source', async () => {
  assert.deepEqual(await resolvePretrain('scratch', 'resnet50'), { kind: 'scratch' });
  const p = join(root, 'mine.pth');
  await writeFile(p, 'x');
  assert.deepEqual(await resolvePretrain(p, 'resnet50'), { kind: 'file', path: p });
});

test('imagenet resolves from <cacheDir>/imagenet/ without the network when cached', async () => {
  const cacheDir = join(root, 'cached');
  await mkdir(join(cacheDir, 'imagenet'), { recursive: true });
  await writeFile(join(cacheDir, 'imagenet', 'resnet50-0676ba61.pth'), 'weights');
  const fetchImpl: typeof fetch = () => assert.fail('must not fetch');
  assert.deepEqual(await resolvePretrain('imagenet', 'resnet50', { cacheDir, fetchImpl }), {
    kind: 'imagenet',
    arch: 'resnet50',
    path: join(cacheDir, 'imagenet', 'resnet50-0676ba61.pth'),
  });
});

test('a download whose sha256 does not start with the file-name prefix is refused', async () => {
  const cacheDir = join(root, 'download');
  const seen: string[] = [];
  const fetchImpl: typeof fetch = (input, init) => {
    seen.push(String(input));
    return fetch(server.url('/fake.pth'), init);
  };
  await assert.rejects(resolvePretrain('imagenet', 'resnet18', { cacheDir, fetchImpl }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.reason, 'hash');
    assert.match(e.message, /expected f37072fd…/);
    return true;
  });
  assert.deepEqual(seen, ['https://download.pytorch.org/models/resnet18-f37072fd.pth']);
  assert.equal(existsSync(join(cacheDir, 'imagenet', 'resnet18-f37072fd.pth')), false);
});

test('an arch without ImageNet weights is a usage error listing the ones that have them', async () => {
  await assert.rejects(resolvePretrain('imagenet', 'resnext101'), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /no ImageNet weights for arch: 'resnext101'; pretrain: 'imagenet' works with \[resnet18, resnet34, resnet50, resnet101, resnet152, mobilenetv2, BNInception\]/);
    return true;
  });
});
