/**
 * `temporal-shift/web` as a page author uses it: a tiny page (test/web/fixtures/package-page) that does
 * `import { onlineRecognizer } from 'temporal-shift/web'`, bundled by Vite in a project outside the repository whose
 * node_modules holds the package as its package.json and build lay it out (the `./web` export, compiled by the
 * package's own tsconfig), served on 127.0.0.1 without any special headers, and opened in Debian's Chromium with a
 * fake camera playing a generated clip. The model is the fixture's online checkpoint with a classifier refit to the
 * clip's colours (test/deploy/color-model.ts): red -> Thumb Up, green -> Stop Sign, blue -> Swiping Left.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type PreviewServer, build, createLogger, preview } from 'vite';
import { exportCheckpoint } from '../../src/deploy/export.js';
import { JESTER_LABELS } from '../../src/deploy/labels.js';
import { launchChromium } from '../../web/chromium.js';
import { RGB_CLASSES, writeColorCheckpoint, writeColorClip } from '../deploy/color-model.js';

const repo = resolve(import.meta.dirname, '..', '..');
const PACKAGE_JSON = join(repo, 'package.json');
const FIXTURE_PAGE = join(import.meta.dirname, 'fixtures', 'package-page');
/** Seconds of each colour in the camera clip: long enough for the 12-frame smoothing window at a few frames/s. */
const SECONDS_PER_COLOR = 4;
const WANTED = RGB_CLASSES.map(({ cls }) => JESTER_LABELS[cls]);

interface PackageJson {
  readonly exports?: Record<string, unknown>;
  readonly scripts?: Record<string, string>;
}

/** The file `exports['./web']` gives an ESM import in a browser bundle (`import`, `browser` or `default`). */
function webExportTarget(pkg: PackageJson): string {
  let entry: unknown = pkg.exports?.['./web'];
  while (entry && typeof entry === 'object') {
    const conditions = entry as Record<string, unknown>;
    entry = conditions.browser ?? conditions.import ?? conditions.default;
  }
  if (typeof entry !== 'string') assert.fail(`package.json has no usable exports['./web'] (got ${JSON.stringify(pkg.exports?.['./web'])})`);
  return entry;
}

/** The tsconfig the package's build script compiles with (`tsc -p FILE`), resolved by tsc itself. */
function buildConfig(pkg: PackageJson): { path: string; outDir: string; rootDir: string } {
  const script = pkg.scripts?.build ?? pkg.scripts?.prepare ?? '';
  const path = resolve(repo, /(?:^|\s)(?:-p|--project)\s+(\S+)/.exec(script)?.[1] ?? 'tsconfig.json');
  const shown = JSON.parse(execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path, '--showConfig'], { encoding: 'utf8' }));
  const abs = (p: string | undefined, fallback: string): string => (p === undefined ? fallback : isAbsolute(p) ? p : resolve(dirname(path), p));
  return { path, outDir: abs(shown.compilerOptions?.outDir, join(repo, 'dist')), rootDir: abs(shown.compilerOptions?.rootDir, join(repo, 'src')) };
}

/**
 * Lays the package out in `<app>/node_modules/temporal-shift` as an install would: its package.json, and the browser
 * entry compiled with the package's build settings (only the files it reaches). The entry's dependencies
 * (onnxruntime-web, onnx-proto, fflate) are linked from the repository's node_modules.
 */
function stagePackage(app: string): void {
  const pkg = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as PackageJson;
  const target = webExportTarget(pkg);
  const staged = join(app, 'node_modules', 'temporal-shift');
  mkdirSync(staged, { recursive: true });
  copyFileSync(PACKAGE_JSON, join(staged, 'package.json'));
  // the entry's dependencies: onnxruntime-web, and the ONNX schema and inflate of the in-page teacher
  for (const dep of ['onnxruntime-web', 'onnx-proto', 'fflate']) symlinkSync(join(repo, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
  const cfg = buildConfig(pkg);
  const stagedOut = join(staged, cfg.outDir.slice(repo.length + 1));
  const tsconfig = join(app, 'tsconfig.stage.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: cfg.path,
      // typeRoots: where the build finds them from the repository (this config sits outside it)
      compilerOptions: { outDir: stagedOut, rootDir: cfg.rootDir, typeRoots: [join(repo, 'node_modules', '@types')], noEmit: false, incremental: false, composite: false },
      files: [join(repo, 'src', 'web', 'index.ts')],
      include: [],
    }),
  );
  try {
    execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    assert.fail(`tsc could not build src/web/index.ts with ${cfg.path}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
  const built = join(staged, target);
  assert.ok(
    existsSync(built),
    `exports['./web'] is ${target}, but ${cfg.path} does not build src/web/index.ts there (files: ${readdirSync(stagedOut, { recursive: true }).join(', ')})`,
  );
}

let dir: string;
let app: string;
let server: PreviewServer;
let url: string;
const viteWarnings: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-web-package-'));
  const weights = await writeColorCheckpoint(dir);
  writeColorClip(join(dir, 'clip.y4m'), RGB_CLASSES, SECONDS_PER_COLOR);
  app = join(dir, 'app');
  cpSync(FIXTURE_PAGE, app, { recursive: true });
  mkdirSync(join(app, 'public'));
  await exportCheckpoint({ weights, out: join(app, 'public', 'model.onnx'), online: true });
  stagePackage(app);
  const logger = createLogger('warn');
  logger.warn = (msg) => void viteWarnings.push(msg);
  logger.warnOnce = (msg) => void viteWarnings.push(msg);
  // a user's plain Vite build: no config file, no aliases, no special conditions or headers ('mpa' only so that a
  // missing file answers 404 instead of index.html)
  const config = { configFile: false as const, root: app, appType: 'mpa' as const, logLevel: 'warn' as const, customLogger: logger, preview: { host: '127.0.0.1', port: 0 } };
  await build(config);
  server = await preview(config);
  url = server.resolvedUrls?.local[0] ?? assert.fail('the preview server has no URL');
});

after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Vite bundles temporal-shift/web for the browser with no Node built-ins and emits the onnxruntime-web wasm', () => {
  assert.deepEqual(
    viteWarnings.filter((w) => /externalized for browser compatibility|node:/.test(w)),
    [],
  );
  const assets = readdirSync(join(app, 'dist', 'assets'));
  const js = assets.filter((f) => f.endsWith('.js'));
  assert.ok(js.length > 0);
  for (const f of js) assert.doesNotMatch(readFileSync(join(app, 'dist', 'assets', f), 'utf8'), /__vite-browser-external|from\s*["']node:|import\(\s*["']node:/, f);
  assert.ok(assets.some((f) => /^ort-wasm-simd-threaded.*\.wasm$/.test(f)), `no onnxruntime-web wasm among the assets: ${assets.join(', ')}`);
});

/** The labels of `predictions` with repeats collapsed. */
const runsOf = (labels: readonly string[]): string[] => labels.filter((l, i) => i === 0 || labels[i - 1] !== l);

interface PageResult {
  status: string;
  error?: string;
  backend?: string;
  threads?: number;
  jesterLabels?: boolean;
  progress: string[];
  predictions: { frame: number; label: string; score: number; modelMs: number; top: [string, number][] }[];
}

const pageResult = (page: Page): Promise<PageResult> => page.evaluate('window.result');

test('a page that imports temporal-shift/web labels the webcam frames with the clip colours, frame after frame', async (t) => {
  const chrome = await launchChromium({ fakeCamera: join(dir, 'clip.y4m') });
  try {
    const page = await chrome.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    // the label must follow the clip: all three colours in clip order, however slowly this machine steps
    const deadline = Date.now() + 180_000;
    let r = await pageResult(page);
    const inOrder = (runs: readonly string[]) => runs.some((_, i) => WANTED.every((w, k) => runs[i + k] === w));
    while (r.status !== 'error' && !inOrder(runsOf(r.predictions.map((p) => p.label)))) {
      if (Date.now() > deadline) {
        assert.fail(`the labels never went ${WANTED.join(' -> ')} in 180 s: ${runsOf(r.predictions.map((p) => p.label)).join(' -> ')} (${r.predictions.length} frames)`);
      }
      await page.waitForTimeout(500);
      r = await pageResult(page);
    }
    assert.equal(r.status, 'running', r.error);
    assert.deepEqual(errors, []);
    // a page without cross-origin isolation: wasm on one thread (headless Chromium with --disable-gpu has no WebGPU)
    assert.equal(r.backend, 'wasm');
    assert.equal(r.threads, 1);
    assert.equal(r.jesterLabels, true);
    assert.deepEqual(runsOf(r.progress).filter((s) => s !== 'progress'), ['initiate', 'download', 'done']);
    assert.ok(r.progress.includes('progress'));
    // one callback per step, in order: the shift buffers were carried from each frame to the next
    r.predictions.forEach((p, i) => assert.equal(p.frame, i, `prediction ${i} is for frame ${p.frame}`));
    for (const p of r.predictions) {
      assert.ok(JESTER_LABELS.includes(p.label), p.label);
      assert.ok(p.score > 0 && p.score <= 1, `score ${p.score}`);
      assert.equal(p.top.length, 5);
      for (let k = 1; k < 5; k++) assert.ok(p.top[k - 1][1] >= p.top[k][1], `top-5 not sorted: ${JSON.stringify(p.top)}`);
    }
    assert.equal(await page.locator('#label').textContent(), (await pageResult(page)).predictions.at(-1)?.label);
    const ms = r.predictions.map((p) => p.modelMs).sort((a, b) => a - b);
    t.diagnostic(`${r.predictions.length} frames (model step median ${ms[ms.length >> 1]?.toFixed(0)} ms); labels ${runsOf(r.predictions.map((p) => p.label)).join(' -> ')}`);

    // step() on still pictures: frame by frame, deterministic
    const colors = RGB_CLASSES.map(({ rgb }) => [rgb, 16]);
    const { steps, errors: apiErrors } = (await page.evaluate(`window.stepStills(${JSON.stringify(colors)})`)) as {
      steps: { frame: number; label: string; rawLabel: string; score: number }[];
      errors: Record<string, unknown[]>;
    };
    assert.deepEqual(
      steps.map((s) => s.frame),
      steps.map((_, i) => i),
      'reset() did not restart the frame count',
    );
    // each colour's own argmax is its class, and after 16 frames of it the smoothed label is too, with a confident
    // score (judged here, frame by frame, not on the camera: how many camera frames a slow machine steps on one
    // colour decides how far the smoothing gets there)
    RGB_CLASSES.forEach((_, k) => {
      const part = steps.slice(16 * k, 16 * (k + 1));
      assert.equal(part.at(-1)?.rawLabel, WANTED[k]);
      assert.equal(part.at(-1)?.label, WANTED[k], `after 16 frames of colour ${k}: ${part.map((s) => s.label).join(', ')}`);
      assert.ok((part.at(-1)?.score ?? 0) > 0.5, `after 16 frames of colour ${k}: score ${part.at(-1)?.score}`);
    });
    assert.deepEqual(apiErrors.shortFrame?.slice(0, 2), [true, 'TSM_SHAPE']);
    assert.match(String(apiErrors.shortFrame?.[2]), /frame has 7 values, expected 150528/);
    assert.deepEqual(apiErrors.device?.slice(0, 2), [true, 'TSM_USAGE']);
    assert.match(String(apiErrors.device?.[2]), /expected one of auto, webgpu, wasm for device but received "cuda"/);
    assert.equal(apiErrors.missing?.[0], 'TSM_DATA');
    assert.match(String(apiErrors.missing?.[1]), /could not fetch the model \.\/missing\.onnx: HTTP 404/);
    assert.deepEqual(apiErrors.disposed, [true, 'this recognizer was disposed; create a new one with onlineRecognizer()']);
    assert.deepEqual(errors, []);
  } finally {
    await chrome.close();
  }
});
