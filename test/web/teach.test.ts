/**
 * Teaching new actions in the browser, in a real browser: Debian's Chromium (headless, through playwright-core)
 * on a Vite build of test/web/fixtures/teach-page, which puts the library on `window`. The base model is the one
 * shipped in models/default (trained on the synthetic temporal-order task); the actions taught are motions it never
 * saw (orbit, shake, bounce from src/data/synthetic.ts), recorded in one scene as a person records at home.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type PreviewServer, build, preview } from 'vite';
import { readNpy, writeNpy } from '../../src/checkpoint/npy.js';
import { mixSeed, renderSyntheticClip, type SyntheticClass } from '../../src/data/index.js';
import { findDefaultOnlineOnnx, readDefaultModel } from '../../src/deploy/default-model.js';
import { normalizeFrame } from '../../src/deploy/preprocess.js';
import { createSession } from '../../src/runtime/index.js';
import { centerView, readBaseModel, storeClip, type OpenSession } from '../../src/teach/index.js';
import { float32, type HostTensor } from '../../src/tensor/index.js';
import { type LaunchedChromium, launchChromium } from '../../web/chromium.js';
import { demoConfig } from '../../web/demo-config.js';
import { type StepCase, type StepCaseResult, runStepCase } from './fixtures/teach-page/step-case.js';

const repo = resolve(import.meta.dirname, '..', '..');
const PAGE = join(import.meta.dirname, 'fixtures', 'teach-page');
const BASE = findDefaultOnlineOnnx() ?? assert.fail('models/default has no online model (npm run train:default builds it)');

let dir: string;
let server: PreviewServer;
let url: string;
let chrome: LaunchedChromium;
let page: Page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-teach-'));
  const config = { ...demoConfig({ model: BASE, port: 0, outDir: join(dir, 'dist') }), root: PAGE };
  await build(config);
  server = await preview(config);
  url = server.resolvedUrls?.local[0] ?? assert.fail('the preview server has no URL');
  chrome = await launchChromium();
  page = await chrome.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction('window.tsmTeachTest !== undefined', undefined, { timeout: 60_000 });
});

after(async () => {
  await chrome?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const openNode: OpenSession = async (bytes, name) => {
  const s = await createSession(bytes, { threads: 2, name });
  return { run: (feeds) => s.run(feeds as Record<string, HostTensor>), release: () => s.release() };
};

/** Largest |a - b| over `a` and `b`, and the largest |a|. */
function diff(a: readonly number[], b: readonly number[]): { max: number; scale: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    max = Math.max(max, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return { max, scale };
}

test('the training step builds in the page from our own graph code and runs in onnxruntime-web with the results of onnxruntime-node', async (t) => {
  const bytes = new Uint8Array(readFileSync(BASE));
  const cases: StepCase[] = [
    // what the teacher trains by default: blocks from features.8 on, their 1x1 convs and the classifier
    { trainFrom: 8, layers: 'pointwise', batch: 3, numSegments: 8, classes: 3 },
    // every op a step can have: all blocks, depthwise and BatchNorm parameters included, from the frames up
    { trainFrom: 0, layers: 'all', batch: 2, numSegments: 4, classes: 3 },
  ];
  for (const c of cases) {
    const node = await runStepCase(bytes, c, openNode);
    const web = (await page.evaluate(([u, cs]) => window.tsmTeachTest.runStepCase(u, cs), ['/model.onnx', c] as const)) as StepCaseResult;
    t.diagnostic(`trainFrom ${c.trainFrom}, ${c.layers}: ${node.nodes} nodes, ops ${node.ops.join(' ')}`);
    assert.deepEqual(web.ops, node.ops);
    assert.ok(node.ops.every((op) => !op.includes('.')), 'standard ONNX only (no com.microsoft domains)');
    // NOTE: fp32 results of two builds of the same kernels (native x86 SIMD vs wasm SIMD) differ by summation
    // order only: relative 1e-4 of each value's scale covers a few hundred accumulated roundings of 2^-24
    const loss = Math.abs(web.loss - node.loss);
    assert.ok(loss <= 1e-4 * Math.max(1, node.loss), `loss ${web.loss} vs ${node.loss}`);
    assert.ok(Math.abs(web.gradNorm - node.gradNorm) <= 1e-4 * node.gradNorm, `grad norm ${web.gradNorm} vs ${node.gradNorm}`);
    const lg = diff(node.logits, web.logits);
    assert.ok(lg.max <= 1e-4 * Math.max(1, lg.scale), `logits differ by ${lg.max}`);
    assert.deepEqual(Object.keys(web.updated).sort(), Object.keys(node.updated).sort());
    let worst = 0;
    for (const [k, v] of Object.entries(node.updated)) {
      const d = diff(v, web.updated[k]);
      worst = Math.max(worst, d.max / Math.max(1e-3, d.scale));
      assert.ok(d.max <= 1e-4 * Math.max(1e-3, d.scale), `${k}: updated values differ by ${d.max} (scale ${d.scale})`);
    }
    t.diagnostic(`loss ${node.loss.toFixed(5)} (web - node ${loss.toExponential(1)}), logits max diff ${lg.max.toExponential(1)}, updated params max rel diff ${worst.toExponential(1)}`);
    // the step changed the weights it trains
    assert.ok(node.gradNorm > 0);
  }
});
