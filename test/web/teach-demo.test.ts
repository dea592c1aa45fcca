/**
 * The demo's Teach page in a real browser: Debian's Chromium (headless, through playwright-core) with a fake camera,
 * against the Vite build served as `npm run demo:web` serves it, on the default model. A user names three actions,
 * records a clip with the camera, adds video files, meets a clear message when a class has no clips, trains (a few
 * epochs: the accuracy target is test/web/teach.test.ts's), sees live predictions, downloads the `.pth`, and finds
 * everything again after a reload.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { parsePth } from '../../src/checkpoint/pth-reader.js';
import { extractStateDict } from '../../src/checkpoint/state-dict.js';
import { mixSeed, renderSyntheticClip, type SyntheticClass } from '../../src/data/index.js';
import { findDefaultOnlineOnnx } from '../../src/deploy/default-model.js';
import { type LaunchedChromium, launchChromium } from '../../web/chromium.js';
import { startDemoServer } from '../../web/serve.js';
import type { TeachPageState } from '../../web/teach-state.js';

const ACTIONS: readonly SyntheticClass[] = ['orbit', 'shake', 'bounce'];
const BASE = findDefaultOnlineOnnx() ?? assert.fail('models/default has no online model (npm run train:default builds it)');

let dir: string;
let server: PreviewServer;
let url: string;
let chrome: LaunchedChromium;

/** Writes one action's clip as a video file (VP8 WebM, 8 fps), or the camera's clip (y4m, 320x240). */
function writeClip(path: string, cls: SyntheticClass, seed: number, repeat = 1): void {
  const frames = renderSyntheticClip(cls, { size: 64, frames: 8, seed, sceneSeed: 7 }).map((f) => f.data);
  const codec = path.endsWith('.webm') ? ['-c:v', 'libvpx', '-b:v', '1M', '-pix_fmt', 'yuv420p'] : ['-vf', 'scale=240:240,pad=320:240:40:0', '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe'];
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '64x64', '-r', '8', '-i', '-', ...codec, path], {
    input: Buffer.concat(Array.from({ length: repeat }, () => frames).flat()),
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`ffmpeg could not write ${path}: ${r.stderr?.toString()}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-teach-demo-'));
  ACTIONS.forEach((cls, k) => [0, 1].forEach((j) => writeClip(join(dir, `${cls}-${j}.webm`), cls, mixSeed(101, k, j))));
  writeClip(join(dir, 'camera.y4m'), 'orbit', mixSeed(303, 0, 0), 4);
  writeFileSync(join(dir, 'broken.webm'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
  server = await startDemoServer({ model: BASE, port: 0, outDir: join(dir, 'dist') });
  url = server.resolvedUrls?.local[0] ?? assert.fail('the preview server has no URL');
  chrome = await launchChromium({ fakeCamera: join(dir, 'camera.y4m') });
});

after(async () => {
  await chrome?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// NOTE: string expressions, as the root tsconfig's page state type is all the test needs
const stateOf = (page: Page): Promise<TeachPageState> => page.evaluate('window.tsmTeach');

async function waitFor(page: Page, done: (s: TeachPageState) => boolean, ms: number): Promise<TeachPageState> {
  const end = Date.now() + ms;
  let s = await stateOf(page);
  while (!done(s)) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms; page state: ${JSON.stringify({ ...s, top: s.top.length })}`);
    await page.waitForTimeout(250);
    s = await stateOf(page);
  }
  return s;
}

test('the Teach page: name actions, record and add clips, a clear message for a missing class, train, live, download, reload', async (t) => {
  const page = await chrome.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}teach.html?epochs=3&countdown=0&seconds=1`);
  await waitFor(page, (s) => s.status === 'setup', 60_000);
  assert.equal((await stateOf(page)).camera, true);
  await page.fill('#classes', ACTIONS.join(', '));
  await page.check('#flip');
  await page.click('#start');
  let s = await waitFor(page, (x) => x.status === 'collecting' || !!x.error, 60_000);
  assert.equal(s.error, undefined);
  assert.deepEqual(s.classes, ACTIONS);

  // one clip recorded with the camera (1 s at 8 frames per second)
  await page.click('button[data-action="0"]');
  s = await waitFor(page, (x) => x.clips.orbit === 1 || !!x.error, 30_000);
  assert.equal(s.error, undefined);
  assert.match((await page.locator('#actions .clip').first().textContent()) ?? '', /8 frames/);

  // a class without clips: a clear message, nothing lost
  await page.click('#train');
  s = await waitFor(page, (x) => !!x.error, 30_000);
  assert.match(s.error ?? '', /no clips for "shake", "bounce": record or add at least one clip of every action before training/);
  assert.equal(await page.locator('#error').isVisible(), true);
  assert.deepEqual(s.clips, { orbit: 1, shake: 0, bounce: 0 });

  // a file the browser cannot decode: a clear message, nothing lost
  await page.setInputFiles('input[type="file"][data-action="1"]', join(dir, 'broken.webm'));
  s = await waitFor(page, (x) => /broken\.webm cannot be decoded/.test(x.error ?? ''), 30_000);
  assert.deepEqual(s.clips, { orbit: 1, shake: 0, bounce: 0 });

  // video files for every action
  for (const [k, cls] of ACTIONS.entries()) await page.setInputFiles(`input[type="file"][data-action="${k}"]`, [0, 1].map((j) => join(dir, `${cls}-${j}.webm`)));
  s = await waitFor(page, (x) => (x.clips.bounce === 2 && x.clips.shake === 2 && x.clips.orbit === 3) || !!x.error, 60_000);
  assert.deepEqual(s.clips, { orbit: 3, shake: 2, bounce: 2 });

  // train: progress per epoch, then live predictions with the new labels
  await page.click('#train');
  await waitFor(page, (x) => x.status === 'training', 10_000);
  assert.equal(await page.locator('#cancel').isVisible(), true);
  s = await waitFor(page, (x) => (x.trained && x.status === 'collecting') || (!!x.error && !/cannot be decoded/.test(x.error)), 300_000);
  assert.equal(s.trained, true, s.error);
  assert.equal(s.epochs.length, 3);
  assert.equal(await page.locator('#epochs li').count(), 3);
  s = await waitFor(page, (x) => x.liveFrames >= 10, 60_000);
  assert.ok(ACTIONS.includes(s.label as SyntheticClass), `live label ${s.label}`);
  assert.equal(await page.locator('#top5 li').count(), 3);

  // download the .pth: the original's checkpoint form, with the actions as categories
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-pth')]);
  const file = join(dir, 'download.pth');
  await download.saveAs(file);
  const { stateDict, meta } = extractStateDict(parsePth(new Uint8Array(readFileSync(file)), file));
  assert.deepEqual(meta.categories, ACTIONS);
  assert.equal(meta.arch, 'mobilenetv2');
  assert.deepEqual(stateDict.get('classifier.weight')?.shape, [3, 1280]);

  // reload: the actions, clips and model come back from IndexedDB, and live recognition resumes
  await page.reload();
  s = await waitFor(page, (x) => (x.status === 'collecting' && x.trained) || !!x.error, 60_000);
  assert.equal(s.error, undefined);
  assert.deepEqual(s.clips, { orbit: 3, shake: 2, bounce: 2 });
  await waitFor(page, (x) => x.liveFrames >= 5, 60_000);
  assert.deepEqual(errors, []);
  const shot = join(dir, 'teach.png');
  await page.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
});
