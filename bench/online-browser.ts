/**
 * Online step latency in the browser: the exported online TSM-MobileNetV2 at 224x224 in headless Chromium
 * (Debian's, through playwright-core) on onnxruntime-web's wasm backend (SIMD; threads, as the page is
 * cross-origin isolated). The page is the web demo itself in `?bench=N` mode: N model steps on a still frame after
 * 10 warm-up steps, shift buffers carried over as in live use. Prints ms/frame (mean, p50, p90) and the time with
 * canvas preprocessing. The target is <= 25 ms/frame. (The Node-side online bench is bench/online-step.ts.)
 *
 *   npx tsx bench/online-browser.ts [--steps 200] [--threads 0] [--model FILE.onnx | --weights FILE.pth]
 *
 * Without a model it exports the fixture's online checkpoint (random weights: speed does not depend on them).
 * Run it alone: on a 2-core machine any other heavy job skews the number.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportCheckpoint } from '../src/deploy/export.js';
import { CHROMIUM, launchChromium } from '../web/chromium.js';
import { startDemoServer } from '../web/serve.js';
import type { DemoState } from '../web/state.js';
import { printBenchResult } from './result.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '200' },
    threads: { type: 'string', default: '0' },
    model: { type: 'string' },
    weights: { type: 'string', default: resolve(here, '..', '..', 'shared', 'fixtures', 'online_mobilenetv2_state_dict.pth') },
  },
});
const STEPS = Number(values.steps);

const dir = mkdtempSync(join(tmpdir(), 'tsm-bench-browser-'));
try {
  let model = values.model;
  if (!model) {
    model = join(dir, 'online.onnx');
    await exportCheckpoint({ weights: values.weights as string, out: model, online: true, inputSize: 224 });
  }
  const server = await startDemoServer({ model, port: 0, outDir: join(dir, 'dist') });
  const chrome = await launchChromium();
  try {
    const page = await chrome.newPage();
    await page.goto(`${server.resolvedUrls?.local[0]}?bench=${STEPS}&device=wasm&threads=${values.threads}`);
    let s: DemoState = await page.evaluate('window.tsmDemo');
    const deadline = Date.now() + 300_000;
    while (s.status !== 'bench-done' && s.status !== 'error') {
      if (Date.now() > deadline) throw new Error(`bench did not finish in 300 s: ${JSON.stringify(s)}`);
      await page.waitForTimeout(500);
      s = await page.evaluate('window.tsmDemo');
    }
    if (s.status === 'error' || !s.bench) throw new Error(`the page failed: ${s.error}`);
    const b = s.bench;
    // the user agent says only "156.0.0.0" (UA reduction): ask the binary
    const version = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim();
    console.log(`online step, 224x224, headless ${version}, onnxruntime-web ${s.backend} (${s.threads} threads, ${cpus().length} cores)`);
    console.log(`  model step: ${b.msPerFrame.toFixed(2)} ms/frame (p50 ${b.p50.toFixed(2)}, p90 ${b.p90.toFixed(2)}) over ${b.steps} steps -> ${(1000 / b.msPerFrame).toFixed(1)} frames/s`);
    console.log(`  with canvas crop + normalize: ${b.pipelineMsPerFrame.toFixed(2)} ms/frame`);
    console.log(`  target <= 25 ms/frame: ${b.msPerFrame <= 25 ? 'met' : 'NOT met'}`);
    printBenchResult({
      bench: 'online-browser',
      title: `online TSM-MobileNetV2 step, 224x224, headless ${version}, onnxruntime-web ${s.backend} (${s.threads} threads)`,
      metrics: [
        { name: 'step latency in the browser (mean)', unit: 'ms/frame', ours: b.msPerFrame, pytorch: null, better: 'lower' },
        { name: 'step + canvas crop/normalize', unit: 'ms/frame', ours: b.pipelineMsPerFrame, pytorch: null, better: 'lower' },
      ],
      notes: [`target <= 25 ms/frame: ${b.msPerFrame <= 25 ? 'met' : 'NOT met'}`, 'no PyTorch counterpart in the browser; compare with online-step'],
    });
  } finally {
    await chrome.close();
    await server.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
