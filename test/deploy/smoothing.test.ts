import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  GENERIC_SMOOTHING,
  JESTER_SMOOTHING,
  OutputSmoother,
  processOutput,
  smoothingFor,
  softmax,
  topK,
} from '../../src/deploy/smoothing.js';
import { JESTER_LABELS, numberedLabels } from '../../src/deploy/labels.js';
import { U64, gamma } from '../helpers/fp32-bounds.js';
import { UsageError } from '../../src/errors.js';
import { runPython } from '../helpers/python.js';
import { makeRng } from '../helpers/rng.js';

const oneHot = (n: number, k: number, v = 5): number[] => Array.from({ length: n }, (_, i) => (i === k ? v : 0));

test('process_output: masked classes keep the previous output, class 0 shows as 2', () => {
  assert.deepEqual(processOutput(7, [2, 2]), [2, [2, 2, 2]]);
  assert.deepEqual(processOutput(3, [5, 5]), [5, [5, 5, 5]]);
  assert.deepEqual(processOutput(0, [2, 2]), [2, [2, 2, 2]]);
  assert.deepEqual(processOutput(0, [5, 5]), [2, [5, 5, 2]]); // "No gesture" is accepted after a stable 5
});

test('process_output: a change needs the previous two outputs to agree', () => {
  assert.deepEqual(processOutput(9, [2, 2]), [9, [2, 2, 9]]);
  assert.deepEqual(processOutput(14, [2, 2, 9]), [9, [2, 2, 9, 9]]); // 9 is not stable yet: hold it
  assert.deepEqual(processOutput(14, [2, 9, 9]), [14, [2, 9, 9, 14]]);
  // NOTE: the original raises IndexError here (history[-2] of [2]); we hold the label one frame instead.
  assert.deepEqual(processOutput(9, [2]), [2, [2, 2]]);
});

test('process_output keeps at most max_hist_len outputs and does not modify its input', () => {
  const history = Array.from({ length: 20 }, () => 4);
  const [idx, next] = processOutput(4, history);
  assert.equal(idx, 4);
  assert.equal(next.length, 20);
  assert.equal(history.length, 20);
  assert.deepEqual(processOutput(4, [1, 1, 1], { ...JESTER_SMOOTHING, maxHistLen: 2 }), [4, [1, 4]]);
});

test('generic rules start from an empty history and accept the first prediction', () => {
  const s = new OutputSmoother(GENERIC_SMOOTHING);
  assert.equal(s.push(oneHot(4, 3)).index, 3);
  assert.deepEqual(s.history, [3]);
  assert.equal(smoothingFor(JESTER_LABELS), JESTER_SMOOTHING);
  assert.equal(smoothingFor(numberedLabels(27)), GENERIC_SMOOTHING);
});

test('the logit window sums the last 12 frames before the argmax', () => {
  const s = new OutputSmoother({ ...GENERIC_SMOOTHING, refine: false });
  for (let i = 0; i < 12; i++) assert.equal(s.push(oneHot(3, 1, 1)).index, 1);
  // 11 old frames of class 1 (sum 11) against one frame of class 2 at 10.5: still 1
  let p = s.push(oneHot(3, 2, 10.5));
  assert.equal(p.rawIndex, 2);
  assert.equal(p.index, 1);
  // the next: 10 of class 1 vs 21 of class 2
  p = s.push(oneHot(3, 2, 10.5));
  assert.equal(p.index, 2);
  const mean = [0, 10 / 12, 21 / 12];
  const expected = softmax(mean);
  assert.deepEqual(p.top.map((t) => t.index), [2, 1, 0]);
  // float64 on both sides: a window sum of 12 and its mean (arguments off by gamma_13 of <= 2), then exp, a sum of 3
  // and a division; a relative bound of 2 gamma_40 covers each side
  p.top.forEach((t) => assert.ok(Math.abs(t.score - expected[t.index]) <= 2 * gamma(40, U64) * expected[t.index], `${t.score} vs ${expected[t.index]}`));
});

test('softmax threshold keeps the previous output on an unsure frame (window 1)', () => {
  const s = new OutputSmoother({ ...GENERIC_SMOOTHING, logitWindow: 1, softmaxThreshold: 0.9, refine: false });
  assert.equal(s.push(oneHot(3, 1, 10)).index, 1);
  assert.equal(s.push([0, 0.1, 0.2]).index, 1); // top score ~0.37 < 0.9
  assert.equal(s.push(oneHot(3, 2, 10)).index, 2);
});

test('topK orders by score, then by index', () => {
  assert.deepEqual(topK([0.1, 0.5, 0.5, 0.2], 3), [
    { index: 1, score: 0.5 },
    { index: 2, score: 0.5 },
    { index: 3, score: 0.2 },
  ]);
});

test('bad rules and a changing logit width are usage errors', () => {
  assert.throws(() => new OutputSmoother({ logitWindow: 0 }), UsageError);
  assert.throws(() => new OutputSmoother({ softmaxThreshold: 1.5 }), /softmaxThreshold/);
  const s = new OutputSmoother();
  s.push(oneHot(27, 2));
  assert.throws(() => s.push(oneHot(5, 2)), /5 classes, earlier frames had 27/);
  s.reset();
  assert.deepEqual(s.history, [2]);
});

/**
 * The original main loop (HISTORY_LOGIT, REFINE_OUTPUT, SOFTMAX_THRES = 0) and process_output, in Python, over
 * the same logits. The first frame favours class 2 so the original's history[-2] on `[2]` is never read.
 */
const ORIGINAL_LOOP = `
import json, sys
import numpy as np
def process_output(idx_, history):
    max_hist_len = 20
    if idx_ in [7, 8, 21, 22, 3]:
        idx_ = history[-1]
    if idx_ == 0:
        idx_ = 2
    if idx_ != history[-1]:
        if not (history[-1] == history[-2]):
            idx_ = history[-1]
    history.append(idx_)
    history = history[-max_hist_len:]
    return history[-1], history
frames = json.loads(open(sys.argv[1]).read())
history = [2]
history_logit = []
out = []
for f in frames:
    feat = np.array([f], dtype=np.float32)
    history_logit.append(feat)
    history_logit = history_logit[-12:]
    avg_logit = sum(history_logit)
    idx_ = np.argmax(avg_logit, axis=1)[0]
    idx, history = process_output(int(idx_), history)
    out.append(int(idx))
print(json.dumps(out))
`;

test('matches the original demo loop (Python) over 3 random label streams', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'tsm-smooth-'));
  for (const seed of [1, 2, 3]) {
    const rng = makeRng(seed);
    const frames: number[][] = [];
    let cls = 2;
    for (let t = 0; t < 300; t++) {
      if (t > 0 && rng.uniform() < 0.15) cls = rng.int(27); // runs of one class, with jumps to any class
      // multiples of 1/1024: float32 (Python) and float64 (ours) sums are both exact, so argmaxes agree
      frames.push(Array.from({ length: 27 }, (_, i) => Math.round((rng.normal() + (i === cls ? 2.5 : 0)) * 8) / 8 + i / 1024));
    }
    frames[0] = oneHot(27, 2, 50);
    const file = join(dir, `frames-${seed}.json`);
    writeFileSync(file, JSON.stringify(frames));
    const expected = JSON.parse(runPython(ORIGINAL_LOOP, [file])) as number[];
    const s = new OutputSmoother(JESTER_SMOOTHING);
    const ours = frames.map((f) => s.push(f).index);
    assert.deepEqual(ours, expected);
    assert.ok(new Set(expected).size > 3, `seed ${seed}: the stream should show several labels, got ${[...new Set(expected)]}`);
  }
});
