/**
 * What to train when teaching new actions: runs the teacher's training loop (src/teach, the code the page's worker
 * runs) on onnxruntime-node for a list of settings and reports held-out top-1 for each. The numbers in
 * docs/teach.md come from it. Node only.
 *
 *   npx tsx bench/teach-options.ts [--classes orbit,shake,bounce] [--frames 8] [--per 6] [--held-out 30] [--scene 7]
 *     [--configs '[{"trainFrom":19},{"trainFrom":8}]'] [--threads 2]
 *
 * `--scene N` renders every clip in one scene (as a person records at home); without it each clip draws its own.
 * A held-out clip counts as right when the mean of the online model's per-frame logits over the whole clip, run
 * from zero shift buffers, picks its class.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mixSeed, parseSyntheticClasses, renderSyntheticClip } from '../src/data/index.js';
import { findDefaultOnlineOnnx } from '../src/deploy/default-model.js';
import { encodeOnnx } from '../src/graph/index.js';
import { createSession } from '../src/runtime/index.js';
import { type OpenSession, type StoredClip, type TeachOptions, buildClipScoresGraph, centerView, readBaseModel, renderView, storeClip, teachModel } from '../src/teach/index.js';
import { type HostTensor, hostTensor } from '../src/tensor/index.js';

const { values } = parseArgs({
  options: {
    classes: { type: 'string', default: 'orbit,shake,bounce' },
    frames: { type: 'string', default: '8' },
    per: { type: 'string', default: '6' },
    'held-out': { type: 'string', default: '30' },
    scene: { type: 'string' },
    configs: { type: 'string', default: '[{"trainFrom":19,"lr":0.05},{"trainFrom":12},{"trainFrom":8,"augment":{"flip":true}}]' },
    threads: { type: 'string', default: '2' },
  },
});
const classes = parseSyntheticClasses((values.classes as string).split(','));
const F = Number(values.frames);
const scene = values.scene === undefined ? undefined : Number(values.scene);
const open: OpenSession = async (bytes, name) => {
  const s = await createSession(bytes, { threads: Number(values.threads), name });
  return { run: (feeds) => s.run(feeds as Record<string, HostTensor>), release: () => s.release() };
};
const baseFile = findDefaultOnlineOnnx();
if (!baseFile) throw new Error('models/default has no online model (npm run train:default builds it)');
const base = readBaseModel(new Uint8Array(readFileSync(baseFile)), { source: baseFile });
const clipsOf = (seedBase: number, per: number): StoredClip[] =>
  classes.flatMap((cls, label) =>
    Array.from({ length: per }, (_, j) => storeClip(label, renderSyntheticClip(cls, { size: 64, frames: F, seed: mixSeed(seedBase, label, j), sceneSeed: scene }).map(({ width, height, data }) => ({ width, height, data })), base.prep.scaleSize)),
  );
const train = clipsOf(101, Number(values.per));
const heldOut = clipsOf(202, Number(values['held-out']));

/** Held-out top-1: mean per-frame logits over the clip, the online model from zero buffers. */
async function evaluate(model: Parameters<typeof buildClipScoresGraph>[0]): Promise<number> {
  const [h, w] = base.prep.inputSize;
  const s = await open(encodeOnnx(buildClipScoresGraph(model, F, [h, w])), 'scores');
  let right = 0;
  for (const c of heldOut) {
    const x = new Float32Array(F * 3 * h * w);
    renderView(c, { ...centerView(c, F, base.prep), start: 0 }, F, base.prep, x);
    const logits = (await s.run({ frames: hostTensor('float32', [F, 3, h, w], x) })).logits.data as Float32Array;
    const mean = classes.map((_, k) => logits.filter((_, i) => i % classes.length === k).reduce((a, b) => a + b, 0));
    if (mean.indexOf(Math.max(...mean)) === c.label) right++;
  }
  await s.release();
  return right / heldOut.length;
}

for (const cfg of JSON.parse(values.configs as string) as TeachOptions[]) {
  const t0 = performance.now();
  const r = await teachModel(base.model, train, classes, base.prep, open, cfg);
  const seconds = (performance.now() - t0) / 1000;
  const top1 = await evaluate(r.model);
  const last = r.history[r.history.length - 1];
  console.log(JSON.stringify({ cfg, seconds: +seconds.toFixed(1), prepareS: +(r.prepareMs / 1000).toFixed(1), stepMs: +r.stepMs.toFixed(0), trainTop1: last.accuracy, loss: +last.loss.toFixed(3), heldOutTop1: +top1.toFixed(3) }));
}
