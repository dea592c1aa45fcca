/**
 * Teaching new actions in the browser, in a real browser: Debian's Chromium (headless, through playwright-core)
 * on a Vite build of test/web/fixtures/teach-page, which puts the library on `window`. The base model is the one
 * shipped in models/default (trained on the synthetic temporal-order task); the actions taught are motions it never
 * saw (orbit, shake, bounce from src/data/synthetic.ts), recorded in one scene as a person records at home.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
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
import { GENERIC_SMOOTHING } from '../../src/deploy/smoothing.js';
import { createSession } from '../../src/runtime/index.js';
import { type OpenSession, readBaseModel } from '../../src/teach/index.js';
import { float32, type HostTensor } from '../../src/tensor/index.js';
import { type LaunchedChromium, launchChromium } from '../../web/chromium.js';
import { demoConfig } from '../../web/demo-config.js';
import type { WireClip, WireError } from './fixtures/teach-page/main.js';
import { type StepCase, type StepCaseResult, runStepCase } from './fixtures/teach-page/step-case.js';

const repo = resolve(import.meta.dirname, '..', '..');
const PAGE = join(import.meta.dirname, 'fixtures', 'teach-page');
const THREADS_NOTE = 'wasm, 2 threads';
const BASE = findDefaultOnlineOnnx() ?? assert.fail('models/default has no online model (npm run train:default builds it)');

let dir: string;
let server: PreviewServer;
let url: string;
let chrome: LaunchedChromium;
let page: Page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-teach-'));
  const demo = demoConfig({ model: BASE, port: 0, outDir: join(dir, 'dist') });
  // the demo's config (its /model.onnx and /ort/ files, isolation headers), on the test page's folder
  const config = { ...demo, root: PAGE, build: { ...demo.build, rollupOptions: undefined } };
  await build(config);
  server = await preview(config);
  url = server.resolvedUrls?.local[0] ?? assert.fail('the preview server has no URL');
  writeVideo(join(dir, 'live.y4m'), liveFrames(), FPS);
  chrome = await launchChromium({ fakeCamera: join(dir, 'live.y4m') });
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

/** The actions taught: motions the base model was never trained on. */
const ACTIONS: readonly SyntheticClass[] = ['orbit', 'shake', 'bounce'];
/** One scene for every clip: a person records the actions at home, in one room. */
const SCENE = 7;
/** Frames per clip, at {@link FPS}: one motion in a second. */
const FRAMES = 8;
const FPS = 8;
const SIZE = 64;

/** `per` clips of each action, as RGB frames. */
function clipsOf(seedBase: number, per: number): { label: SyntheticClass; frames: Uint8Array[] }[] {
  return ACTIONS.flatMap((label, k) =>
    Array.from({ length: per }, (_, j) => ({
      label,
      frames: renderSyntheticClip(label, { size: SIZE, frames: FRAMES, seed: mixSeed(seedBase, k, j), sceneSeed: SCENE }).map((f) => f.data),
    })),
  );
}

const wire = (c: { label: string; frames: Uint8Array[] }): WireClip => ({
  label: c.label,
  width: SIZE,
  height: SIZE,
  frames: c.frames.length,
  rgb: Buffer.concat(c.frames).toString('base64'),
});

/**
 * The camera clip: each action done four times in a row (two performances, each played twice, so the motion runs
 * on as a person repeating it would), the actions in turn.
 */
function liveFrames(): Uint8Array[] {
  return ACTIONS.flatMap((label, k) =>
    Array.from({ length: 2 }, (_, j) => renderSyntheticClip(label, { size: SIZE, frames: FRAMES, seed: mixSeed(303, k, j), sceneSeed: SCENE }).map((f) => f.data)).flatMap((c) => [...c, ...c]),
  );
}

/**
 * Writes RGB frames as a video with ffmpeg: `.webm` (VP8) for a file, `.y4m` for the fake camera. The camera clip
 * is 320x240 with the square picture scaled to its height in the middle, the shape of a webcam's picture (whatever
 * size the page asks the camera for, the center square is the clip).
 */
function writeVideo(path: string, frames: readonly Uint8Array[], fps: number): void {
  const codec = path.endsWith('.webm')
    ? ['-c:v', 'libvpx', '-b:v', '1M', '-pix_fmt', 'yuv420p']
    : ['-vf', 'scale=240:240:flags=bilinear,pad=320:240:40:0', '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe'];
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${SIZE}x${SIZE}`, '-r', String(fps), '-i', '-', ...codec, path], {
    input: Buffer.concat(frames),
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`ffmpeg could not write ${path}: ${r.stderr?.toString() || r.error?.message}`);
}

/** The page's answer, or a test failure naming the error it threw. */
function ok<T>(r: T | WireError, what: string): T {
  if (r && typeof r === 'object' && 'error' in r) assert.fail(`${what} failed in the page: ${(r as WireError).error.name}: ${(r as WireError).error.message}`);
  return r as T;
}

/** The error the page threw (fails when it threw none). */
function err(r: unknown, what: string): WireError['error'] {
  if (r && typeof r === 'object' && 'error' in r) return (r as WireError).error;
  return assert.fail(`${what} should have failed, got ${JSON.stringify(r).slice(0, 200)}`);
}

const softmax = (xs: ArrayLike<number>): number[] => {
  const m = Math.max(...Array.from(xs));
  const e = Array.from(xs, (x) => Math.exp(x - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
};

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
    { trainFrom: 0, layers: 'all', batch: 1, numSegments: 3, classes: 3 },
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

const train = clipsOf(101, 6);
const heldOut = clipsOf(202, 10);
let taughtAccuracy = 0;

test('teach 3 new actions from 6 clips each: held-out clips are recognised, the page stays responsive while the worker trains', async (t) => {
  const info = ok(await page.evaluate((o) => window.tsmTeachTest.start(o), { classes: [...ACTIONS], fps: FPS, training: { augment: { flip: true } } }), 'actionTeacher');
  assert.deepEqual(info.classes, ACTIONS);
  assert.equal(info.trained, false);
  assert.deepEqual(info.baseLabels, readDefaultModel()?.card.classes);
  const added = ok(await page.evaluate((cs) => window.tsmTeachTest.addClips(cs), train.map(wire)), 'addClip');
  assert.equal(added.length, 18);
  // before training there is nothing to recognise with
  assert.match(err(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth before train').message, /nothing has been taught yet/);
  const t0 = Date.now();
  const run = ok(await page.evaluate(() => window.tsmTeachTest.train({})), 'train');
  const seconds = (Date.now() - t0) / 1000;
  const epochs = run.events as Extract<import('../../src/teach/index.js').TeachProgress, { status: 'epoch' }>[];
  assert.equal(epochs.length, 30);
  assert.ok(run.prepareEvents > 0, 'the frozen blocks were cached with progress');
  assert.ok(epochs[epochs.length - 1].loss < epochs[0].loss, `loss ${epochs[0].loss} -> ${epochs[epochs.length - 1].loss}`);
  assert.ok(epochs.every((e, i) => e.epoch === i + 1 && e.remainingMs >= 0 && e.accuracy >= 0 && e.accuracy <= 1));
  // 50 ms timer ticks kept coming on the page's thread while the worker trained (a blocked page counts none)
  assert.ok(run.ticks >= (run.result.totalMs / 50) * 0.5, `${run.ticks} timer ticks in ${run.result.totalMs.toFixed(0)} ms`);
  const predicted = ok(await page.evaluate((cs) => window.tsmTeachTest.classify(cs), heldOut.map(wire)), 'classify');
  const correct = predicted.filter((p, i) => p === heldOut[i].label).length;
  taughtAccuracy = correct / heldOut.length;
  t.diagnostic(
    `held-out top-1 ${(100 * taughtAccuracy).toFixed(1)}% (${correct}/${heldOut.length}); training ${seconds.toFixed(1)} s in Chromium (${THREADS_NOTE}), ` +
      `step ${run.result.stepMs.toFixed(0)} ms, caching ${(run.result.prepareMs / 1000).toFixed(1)} s; last epoch loss ${epochs[epochs.length - 1].loss.toFixed(3)}, train acc ${epochs[epochs.length - 1].accuracy.toFixed(2)}`,
  );
  assert.ok(taughtAccuracy >= 0.9, `held-out top-1 ${taughtAccuracy} < 0.9; predicted ${predicted.join(',')}`);
});

test('the downloaded .pth gives the page\'s per-frame scores in tsm infer-online (Node)', async (t) => {
  const pth = Buffer.from(ok(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth'), 'base64');
  writeFileSync(join(dir, 'taught.pth'), pth);
  const base = readBaseModel(new Uint8Array(readFileSync(BASE)));
  // one held-out clip of each action in a row, normalized as the network input: both sides get these exact frames
  const clip = heldOut.filter((_, i) => i % 10 === 0).flatMap((c) => c.frames);
  const per = 3 * SIZE * SIZE;
  const frames = float32([clip.length, 1, 3, SIZE, SIZE]);
  clip.forEach((f, i) => normalizeFrame(f, SIZE, SIZE, 3, base.prep, (frames.data as Float32Array).subarray(i * per, (i + 1) * per)));
  await writeNpy(join(dir, 'frames.npy'), frames);
  const b64 = Buffer.from((frames.data as Float32Array).buffer).toString('base64');
  const web = ok(await page.evaluate(([f, n]) => window.tsmTeachTest.frameScores(f, n), [b64, clip.length] as const), 'frameScores');
  execFileSync(process.execPath, [join(repo, 'bin', 'tsm.js'), 'infer-online', '--weights', join(dir, 'taught.pth'), '--frames', join(dir, 'frames.npy'), '--output', join(dir, 'logits.npy'), '--width-mult', '0.5', '--threads', '1'], { stdio: 'pipe', timeout: 300_000 });
  const logits = await readNpy(join(dir, 'logits.npy'));
  assert.deepEqual(logits.shape, [clip.length, ACTIONS.length]);
  let worst = 0;
  for (let i = 0; i < clip.length; i++) {
    const node = softmax((logits.data as Float32Array).subarray(i * ACTIONS.length, (i + 1) * ACTIONS.length));
    for (let k = 0; k < ACTIONS.length; k++) worst = Math.max(worst, Math.abs(node[k] - web[i][k]));
  }
  // NOTE: softmax scores in [0, 1] from logits that two fp32 runtimes computed in different summation orders
  // (native x86 and wasm SIMD): 1e-4 is about a thousand roundings of 2^-24 away, far above what they differ by
  t.diagnostic(`${clip.length} frames, max |score difference| ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-4, `per-frame scores differ by ${worst}`);
  // the scores are not trivially equal: the actions score differently
  assert.ok(web.some((s) => Math.max(...s) > 0.8), 'some frame is recognised with confidence');
});

test('saved (IndexedDB), reloaded, still recognises: the same clips and the same scores', async () => {
  const before = ok(await page.evaluate((cs) => window.tsmTeachTest.classify(cs), heldOut.slice(0, 6).map(wire)), 'classify');
  const beforePth = ok(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth');
  assert.equal(ok(await page.evaluate(() => window.tsmTeachTest.save('taught')), 'save'), true);
  await page.reload();
  await page.waitForFunction('window.tsmTeachTest !== undefined', undefined, { timeout: 60_000 });
  const info = ok(await page.evaluate((o) => window.tsmTeachTest.start(o), { classes: [...ACTIONS], fps: FPS, restoreKey: 'taught' }), 'actionTeacher with restore');
  assert.equal(info.trained, true);
  assert.equal(info.clips, 18);
  assert.equal(ok(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth'), beforePth, 'the same weights');
  assert.deepEqual(ok(await page.evaluate((cs) => window.tsmTeachTest.classify(cs), heldOut.slice(0, 6).map(wire)), 'classify'), before);
});

test('live: the recognizer follows the fake camera as it plays the actions in turn', async (t) => {
  const seconds = 30;
  const seen = ok(await page.evaluate((s) => window.tsmTeachTest.live(s), seconds), 'live');
  t.diagnostic(`${seen.length} steps in ${seconds} s; raw labels: ${seen.map((s) => ACTIONS.indexOf(s.raw as SyntheticClass)).join('')}`);
  // never faster than the teacher's rate (how fast this machine keeps up is for bench/, not a test)
  assert.ok(seen.length >= seconds && seen.length <= seconds * FPS * 1.1, `${seen.length} steps in ${seconds} s at ${FPS} per second`);
  // the shown label, as runs; a run as long as the smoothing window (12 steps, 1.5 s) is the page settling on an
  // action: shorter ones are the window passing from one action to the next
  const runs: { label: string; steps: number }[] = [];
  for (const s of seen) {
    const last = runs[runs.length - 1];
    if (last?.label === s.label) last.steps++;
    else runs.push({ label: s.label, steps: 1 });
  }
  const settled = runs.filter((r) => r.steps >= GENERIC_SMOOTHING.logitWindow).map((r) => r.label).filter((l, i, a) => i === 0 || a[i - 1] !== l);
  t.diagnostic(`labels: ${runs.map((r) => `${r.label}(${r.steps})`).join(' ')}`);
  for (const a of ACTIONS) assert.ok(settled.includes(a), `${a} was never shown for ${GENERIC_SMOOTHING.logitWindow} steps; runs: ${settled.join(' -> ')}`);
  // the camera plays orbit, shake, bounce, orbit...: the settled labels follow that order
  const changes = settled.slice(1).map((l, i) => [settled[i], l]);
  const inOrder = changes.filter(([a, b]) => ACTIONS[(ACTIONS.indexOf(a as SyntheticClass) + 1) % ACTIONS.length] === b).length;
  assert.ok(changes.length >= 4 && inOrder >= 0.8 * changes.length, `settled labels out of the camera's order: ${settled.join(' -> ')}`);
});

test('cancel mid-training: the call rejects with an AbortError and the previous model stays', async () => {
  const beforePth = ok(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth');
  const e = err(await page.evaluate(() => window.tsmTeachTest.train({ epochs: 30, abortAfterEpochs: 1 })), 'a cancelled train');
  assert.equal(e.name, 'AbortError');
  assert.match(e.message, /cancelled; the previous model is kept/);
  assert.equal(ok(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth'), beforePth, 'the weights did not change');
  assert.equal(await page.evaluate(() => window.tsmTeachTest.clipCount()), 18);
  // and training works again after a cancel (a new worker), and again in the same worker
  const again = ok(await page.evaluate(() => window.tsmTeachTest.train({ epochs: 1 })), 'train after cancel');
  assert.equal(again.events.length, 1);
  const once = ok(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth');
  const twice = ok(await page.evaluate(() => window.tsmTeachTest.train({ epochs: 2 })), 'a second train in the same worker');
  assert.equal(twice.events.length, 2);
  assert.notEqual(ok(await page.evaluate(() => window.tsmTeachTest.exportPth()), 'exportPth'), once, 'the second run replaced the model');
});

test('bad input: one clear message each, and nothing recorded is lost', async () => {
  // an action without clips
  ok(await page.evaluate((o) => window.tsmTeachTest.start(o), { classes: ['wave', 'clap'], fps: FPS }), 'actionTeacher');
  ok(await page.evaluate((cs) => window.tsmTeachTest.addClips(cs), [{ ...wire(train[0]), label: 'wave' }]), 'addClip');
  const noClips = err(await page.evaluate(() => window.tsmTeachTest.train({})), 'train without clips of "clap"');
  assert.equal(noClips.code, 'TSM_USAGE');
  assert.match(noClips.message, /no clips for "clap": record or add at least one clip of every action before training/);
  assert.equal(await page.evaluate(() => window.tsmTeachTest.clipCount()), 1);
  // a clip shorter than a training view
  const short = { ...wire({ label: 'clap', frames: train[1].frames.slice(0, 3) }) };
  const shortErr = err(await page.evaluate((cs) => window.tsmTeachTest.addClips(cs), [short]), 'a 3-frame clip');
  assert.match(shortErr.message, /the clip has 3 frames; a clip of "clap" needs at least 8/);
  assert.equal(await page.evaluate(() => window.tsmTeachTest.clipCount()), 1);
  // an unknown action
  assert.match(err(await page.evaluate((cs) => window.tsmTeachTest.addClips(cs), [{ ...wire(train[0]), label: 'jump' }]), 'an unknown label').message, /expected one of the actions "wave", "clap" for label but received "jump"/);
  // a video file the browser cannot decode
  const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('base64');
  const bad = err(await page.evaluate(([b, t]) => window.tsmTeachTest.addVideo('clap', b, t, 'broken.webm'), [junk, 'video/webm'] as const), 'an undecodable video');
  assert.equal(bad.code, 'TSM_DATA');
  assert.match(bad.message, /^broken\.webm cannot be decoded as a video by this browser/);
  assert.equal(await page.evaluate(() => window.tsmTeachTest.clipCount()), 1);
  // a video file that decodes: one clip at the teacher's rate
  writeVideo(join(dir, 'clap.webm'), train[1].frames, FPS);
  const video = ok(await page.evaluate(([b, t]) => window.tsmTeachTest.addVideo('clap', b, t, 'clap.webm'), [readFileSync(join(dir, 'clap.webm')).toString('base64'), 'video/webm'] as const), 'a WebM clip');
  assert.equal(video.label, 'clap');
  assert.ok(Math.abs(video.frames - FRAMES) <= 1, `${video.frames} frames from a ${FRAMES}-frame video at the same rate`);
  assert.equal(await page.evaluate(() => window.tsmTeachTest.clipCount()), 2);
  // a base model that is not an online model: the default clip model, and bytes that are no model
  const clipModel = readDefaultModel()?.file('clip', 'onnx') ?? assert.fail('no clip model in models/default');
  for (const [bytes, why] of [
    [readFileSync(clipModel), /is not an online TSM model: it is a clip model \(tsm_kind=clip\), not an online step model/],
    [Buffer.from('not a model at all'), /is not an online TSM model: /],
  ] as const) {
    const e = err(await page.evaluate((b) => window.tsmTeachTest.start({ classes: ['a', 'b'], base: b }), bytes.toString('base64')), 'a base that is not online');
    assert.equal(e.code, 'TSM_USAGE');
    assert.match(e.message, why);
    assert.match(e.message, /Teaching starts from an online model/);
  }
  // bad action lists
  for (const classes of [['only'], ['a', 'a'], Array.from({ length: 11 }, (_, i) => `a${i}`)]) {
    assert.match(err(await page.evaluate((c) => window.tsmTeachTest.start({ classes: c }), classes), `classes ${classes}`).message, /for classes but received/);
  }
});
