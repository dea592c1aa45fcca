/**
 * Training-loader throughput: clips/s of decode + augment (GroupMultiScaleCrop 224 + flip) + collate, 8 segments,
 * batch 8, 2 workers, ours (libjpeg-turbo decode, JS port of Pillow's resize, worker_threads) vs PyTorch's
 * DataLoader with PIL doing the same transforms (bench/data_loader_ref.py, Debian python3-torch). Both read the same
 * generated 340x256 JPEG frames.
 *
 *   npx tsx bench/data-loader.ts [--videos 24] [--batches 30]
 *
 * Run it alone: on a 2-core machine any other heavy job skews both numbers.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DataLoader, encodeJpeg, formatListFile, makeImage, RandomState, trainAugmentation } from '../src/data/index.js';
import { lastJsonLine, printBenchResult } from './result.js';

const { values } = parseArgs({ options: { videos: { type: 'string', default: '24' }, batches: { type: 'string', default: '30' }, workers: { type: 'string', default: '2' } } });
const VIDEOS = Number(values.videos);
const BATCHES = Number(values.batches);
const WORKERS = Number(values.workers);
const FRAMES = 32;
const SEGMENTS = 8;
const BATCH = 8;

/** Frames that look like video: a smooth random field, shifted a little per frame, plus noise. */
async function generate(root: string): Promise<string> {
  const list = join(root, 'list.txt');
  if (existsSync(list)) return list;
  const rng = new RandomState(0);
  const records = [];
  for (let v = 0; v < VIDEOS; v++) {
    const dir = join(root, `v${v}`);
    mkdirSync(dir, { recursive: true });
    const base = Array.from({ length: 12 }, () => rng.uniform(0, 6.28));
    for (let f = 1; f <= FRAMES; f++) {
      const img = makeImage(340, 256, 3);
      for (let y = 0; y < 256; y++) {
        for (let x = 0; x < 340; x++) {
          for (let k = 0; k < 3; k++) {
            const val = 128 + 60 * Math.sin((x + 2 * f) / 23 + base[k]) + 50 * Math.cos(y / 17 + base[k + 3]) + (rng.random() - 0.5) * 20;
            img.data[(y * 340 + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(val)));
          }
        }
      }
      writeFileSync(join(dir, `img_${String(f).padStart(5, '0')}.jpg`), await encodeJpeg(img, 90));
    }
    records.push({ path: `v${v}`, numFrames: FRAMES, label: v % 4 });
  }
  writeFileSync(list, formatListFile(records));
  return list;
}

async function ours(root: string, list: string): Promise<number> {
  const loader = await DataLoader.create(
    { rootPath: root, listFile: list, numSegments: SEGMENTS, transform: trainAugmentation({ inputSize: 224 }) },
    { batchSize: BATCH, shuffle: true, seed: 0, numWorkers: WORKERS, prefetch: 2, dropLast: true },
  );
  try {
    let seen = 0;
    let clips = 0;
    let t0 = 0;
    for (let epoch = 0; seen < BATCHES + 2; epoch++) {
      for await (const batch of loader.epoch(epoch)) {
        if (++seen === 2) t0 = performance.now(); // 2 warm-up batches, as the reference
        else if (seen > 2) clips += batch.input.shape[0];
        if (seen === BATCHES + 2) break;
      }
    }
    return clips / ((performance.now() - t0) / 1000);
  } finally {
    await loader.close();
  }
}

const root = join(tmpdir(), `tsm-bench-frames-${VIDEOS}`);
const list = await generate(root);
const ref = join(dirname(fileURLToPath(import.meta.url)), 'data_loader_ref.py');
const oursRate = await ours(root, list);
const torchOut = execFileSync('/usr/bin/python3', [ref, root, list, '--segments', String(SEGMENTS), '--batch-size', String(BATCH), '--workers', String(WORKERS), '--batches', String(BATCHES)], { encoding: 'utf8' });
const torchRate = lastJsonLine<{ clips_per_s: number }>(torchOut).clips_per_s;
console.log(`training loader, ${SEGMENTS} segments, 224 crops, batch ${BATCH}, ${WORKERS} workers, ${VIDEOS} videos of 340x256 JPEGs`);
console.log(`  ours (worker_threads):         ${oursRate.toFixed(1)} clips/s`);
console.log(`  PyTorch DataLoader + PIL:      ${torchRate.toFixed(1)} clips/s`);
console.log(`  ratio ours / PyTorch:          ${(oursRate / torchRate).toFixed(2)}`);
printBenchResult({
  bench: 'data-loader',
  title: `training loader, ${SEGMENTS} segments, 224 crops + flip, batch ${BATCH}, ${WORKERS} workers, 340x256 JPEGs`,
  metrics: [{ name: 'loader throughput', unit: 'clips/s', ours: oursRate, pytorch: torchRate, better: 'higher' }],
});
