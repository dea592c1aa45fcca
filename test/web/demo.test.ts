/**
 * The browser demo in a real browser: Debian's Chromium (headless, through playwright-core) with a fake camera
 * playing a generated clip, against the Vite build served as `npm run demo:web` serves it. The model is the
 * fixture's online checkpoint with a classifier refit to the clip's colours (test/deploy/color-model.ts), so the
 * label must follow the clip: red -> Thumb Up, green -> Stop Sign, blue -> Swiping Left. The checks wait for
 * conditions (bounded), never for a fixed time, so a slow or loaded machine makes them slower, not flaky.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { exportCheckpoint } from '../../src/deploy/export.js';
import { JESTER_LABELS } from '../../src/deploy/labels.js';
import { type LaunchedChromium, launchChromium } from '../../web/chromium.js';
import type { DemoState } from '../../web/state.js';
import { startDemoServer } from '../../web/serve.js';
import { RGB_CLASSES, writeColorCheckpoint, writeColorClip } from '../deploy/color-model.js';

let dir: string;
let server: PreviewServer;
let url: string;
let outDir: string;
/** Seconds of each colour in the clips: long enough for the 12-frame smoothing window at a few frames/s. */
const SECONDS_PER_COLOR = 4;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-web-'));
  const weights = await writeColorCheckpoint(dir);
  const model = join(dir, 'online.onnx');
  await exportCheckpoint({ weights, out: model, online: true });
  writeColorClip(join(dir, 'clip.y4m'), RGB_CLASSES, SECONDS_PER_COLOR);
  writeColorClip(join(dir, 'clip.webm'), RGB_CLASSES, SECONDS_PER_COLOR);
  outDir = join(dir, 'dist');
  server = await startDemoServer({ model, port: 0, outDir });
  url = server.resolvedUrls?.local[0] ?? assert.fail('the preview server has no URL');
});

after(async () => {
  await server?.close();
});

// NOTE: string expressions, as the root tsconfig has no DOM types
/** The clip's labels, in clip order. */
const WANTED = RGB_CLASSES.map(({ cls }) => JESTER_LABELS[cls]);
/** True when `runs` has the clip's labels one right after another. */
const inOrder = (runs: readonly string[]): boolean => runs.some((_, i) => WANTED.every((w, k) => runs[i + k] === w));

const demoState = (page: Page): Promise<DemoState> => page.evaluate('window.tsmDemo');

/** Polls the page's state until `done` holds (or fails after `ms`, showing the last state). */
async function waitFor(page: Page, done: (s: DemoState) => boolean, ms: number): Promise<DemoState> {
  const end = Date.now() + ms;
  let s = await demoState(page);
  while (!done(s)) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms; page state: ${JSON.stringify(s)}`);
    await page.waitForTimeout(200);
    s = await demoState(page);
  }
  return s;
}

/**
 * Polls until `done` holds of the labels the page has shown since frame `fromFrame` (`labelRuns`, which the page
 * keeps, so slow polling misses none), recording the best top-1 score seen; fails after `ms` with what was shown.
 */
async function watchLabels(page: Page, done: (runs: readonly string[]) => boolean, ms: number, fromFrame = 0): Promise<{ bestScore: number; state: DemoState }> {
  const end = Date.now() + ms;
  let bestScore = 0;
  for (;;) {
    const s = await demoState(page);
    bestScore = Math.max(bestScore, s.top[0]?.score ?? 0);
    const runs = s.labelRuns.filter((r) => r.frame >= fromFrame).map((r) => r.label);
    if (s.status === 'error' || done(runs)) return { bestScore, state: s };
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms; labels shown: ${runs.join(' -> ')}; page state: ${JSON.stringify({ ...s, labelRuns: undefined })}`);
    await page.waitForTimeout(200);
  }
}

test('the build has no Node built-ins in the page bundle and ships the ORT wasm files', () => {
  const assets = readdirSync(join(outDir, 'assets')).filter((f) => f.endsWith('.js'));
  assert.ok(assets.length > 0);
  for (const f of assets) assert.doesNotMatch(readFileSync(join(outDir, 'assets', f), 'utf8'), /__vite-browser-external|node:fs|node:child_process/, f);
  assert.deepEqual(readdirSync(join(outDir, 'ort')).sort(), ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm']);
});

test('webcam (fake camera): frames are processed one at a time, the label follows the clip, top-5 and FPS shown', async (t) => {
  const chrome: LaunchedChromium = await launchChromium({ fakeCamera: join(dir, 'clip.y4m') });
  try {
    const page = await chrome.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(url);
    assert.equal(res?.headers()['cross-origin-embedder-policy'], 'require-corp');
    const first = await waitFor(page, (s) => s.status === 'error' || s.frames >= 20, 180_000);
    assert.equal(first.status, 'running', first.error);
    assert.equal(first.source, 'camera');
    assert.equal(await page.evaluate('crossOriginIsolated'), true);
    // headless Chromium with --disable-gpu has no WebGPU adapter: the page falls back to wasm with threads
    assert.equal(first.backend, 'wasm');
    assert.ok((first.threads ?? 0) >= 1);
    // the clip loops through each colour in turn: every colour's label must show, one after another in clip order
    // (judged on what is shown from here on: the current label and every later change)
    const since = first.labelRuns.at(-1)?.frame ?? 0;
    const { bestScore, state: went } = await watchLabels(page, inOrder, 180_000, since);
    assert.equal(went.status, 'running', went.error);
    // and frames keep coming: 20 more steps, however long a loaded machine takes for them
    const s = await waitFor(page, (x) => x.status === 'error' || x.frames > first.frames + 20, 120_000);
    assert.equal(s.status, 'running', s.error);
    assert.ok(s.fps > 0 && s.modelMs > 0 && s.totalMs >= s.modelMs);
    assert.equal(s.top.length, 5);
    // one instant may fall on a colour change, where the shift buffers still hold the last colour: judge the
    // confidence over the whole window, not at the moment this line runs
    assert.ok(bestScore > 0.5, `top-1 score never above 0.5 while the labels went round (best ${bestScore})`);
    // what is on screen: the page keeps drawing, so read it in the same task as the state
    assert.equal(await page.locator('#top5 li').count(), 5);
    const [shown, stated] = (await page.evaluate("[document.getElementById('label').textContent, window.tsmDemo.label]")) as string[];
    assert.equal(shown, stated);
    assert.match((await page.locator('#fps').textContent()) ?? '', /^\d+\.\d$/);
    assert.equal(await page.locator('#error').isHidden(), true);
    assert.deepEqual(errors, []);
    const shot = join(dir, 'webcam.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
  } finally {
    await chrome.close();
  }
});

test('no camera: the page offers a video file, and runs on the file it is given', async (t) => {
  const chrome = await launchChromium(); // no fake device: getUserMedia finds no camera
  try {
    const page = await chrome.newPage();
    await page.goto(url);
    const s0 = await waitFor(page, (s) => s.status === 'no-source' || s.status === 'error', 180_000);
    assert.equal(s0.status, 'no-source', s0.error);
    assert.equal(await page.locator('#picker').isVisible(), true);
    assert.match((await page.locator('#picker-reason').textContent()) ?? '', /No camera available .*Choose a video file/);
    await page.setInputFiles('#file', join(dir, 'clip.webm'));
    const s = await waitFor(page, (x) => x.frames >= 15 || x.status === 'error', 120_000);
    assert.equal(s.source, 'file');
    assert.equal(await page.locator('#picker').isHidden(), true);
    const { state } = await watchLabels(page, inOrder, 180_000);
    assert.equal(state.status, 'running', state.error);
    const shot = join(dir, 'file.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
  } finally {
    await chrome.close();
  }
});

test('a model that fails to load is reported on the page, with how to fix it', async (t) => {
  const chrome = await launchChromium();
  try {
    const page = await chrome.newPage();
    await page.goto(`${url}?model=/missing.onnx`);
    const s = await waitFor(page, (x) => x.status === 'error', 120_000);
    assert.match(s.error ?? '', /The model failed to load from \/missing\.onnx:\n.*HTTP 404/);
    const text = (await page.locator('#error').textContent()) ?? '';
    assert.match(text, /tsm export --online --weights W\.pth --out model\.onnx/);
    assert.equal(await page.locator('#backend').textContent(), 'no model');
    const shot = join(dir, 'error.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    // an HTML page is not a model
    await page.goto(`${url}?model=/index.html`);
    const h = await waitFor(page, (x) => x.status === 'error', 120_000);
    assert.match(h.error ?? '', /not an ONNX model/);
  } finally {
    await chrome.close();
  }
});
