/**
 * Score files and shards: `--shard i/n` parsing and selection, the write/read round trip, which files a folder
 * gives, and merging (shards back in list order, incomplete or repeated shards refused, ensembles of runs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  SCORES_FORMAT,
  type ScoreRun,
  type ScoreSet,
  type Shard,
  findScoreFiles,
  inShard,
  mergeScoreSets,
  parseShard,
  readScoreSet,
  runIdOf,
  shardPositions,
  writeScoreSet,
} from '../../src/evaluate/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-scores-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const N = 7;
const C = 3;
const run = (weights: string): ScoreRun => ({
  kind: 'test',
  dataset: 'something',
  models: [{ weights, segments: 8, coeff: 1, list: 'val.txt' }],
  protocol: { testCrops: 1, fullRes: false, twiceSample: false, denseSample: false, softmax: false },
  maxNum: null,
});

/** A whole run of N videos with scores (video i, class c) = seed + 10 i + c. */
function wholeRun(weights: string, seed: number, labels = Array.from({ length: N }, (_, i) => i % C)): ScoreSet {
  const r = run(weights);
  return {
    meta: { format: SCORES_FORMAT, runId: runIdOf(r), run: r, numClass: C, categories: ['a', 'b', null], scoreType: 'logits', total: N, shard: null, videos: labels.map((label, i) => ({ index: i, id: `v${i}`, label })) },
    scores: Float32Array.from({ length: N * C }, (_, k) => seed + 10 * Math.floor(k / C) + (k % C)),
  };
}

/** The rows of `set` that shard `sh` takes, as `evaluate` would have written them. */
function shardOf(set: ScoreSet, sh: Shard): ScoreSet {
  const pos = shardPositions(N, sh);
  const scores = new Float32Array(pos.length * C);
  pos.forEach((p, r) => scores.set(set.scores.subarray(p * C, (p + 1) * C), r * C));
  return { meta: { ...set.meta, shard: sh, videos: pos.map((p) => set.meta.videos[p]) }, scores };
}

test('--shard i/n: parsed from 0, every n-th video, all shards cover the list once', () => {
  assert.deepEqual(parseShard('2/8'), { index: 2, count: 8 });
  assert.deepEqual(parseShard(' 0 / 1 '), { index: 0, count: 1 });
  for (const bad of ['3/3', '1/0', '-1/3', 'a/b', '1', '1/2/3']) {
    assert.throws(() => parseShard(bad), /expected i\/n with 0 <= i < n/, bad);
  }
  assert.deepEqual(shardPositions(10, { index: 1, count: 3 }), [1, 4, 7]);
  assert.deepEqual(shardPositions(2, { index: 2, count: 3 }), [], 'a shard may be empty');
  const all = [0, 1, 2].flatMap((i) => shardPositions(10, { index: i, count: 3 })).sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 10 }, (_, i) => i));
  assert.ok(inShard(5));
});

test('a score file round-trips; a folder gives its shard files in shard order, else its scores.json', async () => {
  const set = wholeRun('w.pth', 0);
  const json = await writeScoreSet(join(dir, 'whole'), set);
  assert.ok(json.endsWith('scores.json'));
  const back = await readScoreSet(json);
  assert.deepEqual(back.meta, set.meta);
  assert.deepEqual([...back.scores], [...set.scores]);
  assert.deepEqual([...(await readScoreSet(json.replace('.json', '.npy'))).scores], [...set.scores], 'the .npy path works too');

  const shards = join(dir, 'shards');
  for (const i of [2, 0, 1]) await writeScoreSet(shards, shardOf(set, { index: i, count: 3 }));
  await writeScoreSet(shards, set); // a merged scores.json beside the shards is not picked again
  const files = await findScoreFiles([shards]);
  assert.deepEqual(files.map((f) => f.slice(shards.length + 1)), ['scores.shard-0-of-3.json', 'scores.shard-1-of-3.json', 'scores.shard-2-of-3.json']);
  assert.deepEqual(await findScoreFiles([join(dir, 'whole')]), [json]);
  await assert.rejects(findScoreFiles([join(dir, 'nope')]), /score input .*nope does not exist/);

  writeFileSync(join(dir, 'other.json'), '{"format": "something else"}');
  await assert.rejects(readScoreSet(join(dir, 'other.json')), /other\.json is not a score file: "format" is "something else", expected "tsm-scores\/1"/);
});

test('merging: shards back in list order equal the whole run; missing, repeated or mixed shards are refused', () => {
  const whole = wholeRun('w.pth', 0);
  const parts = [0, 1, 2].map((i) => shardOf(whole, { index: i, count: 3 }));
  const merged = mergeScoreSets([parts[2], parts[0], parts[1]]);
  assert.deepEqual(merged.meta, whole.meta);
  assert.deepEqual([...merged.scores], [...whole.scores]);
  assert.throws(() => mergeScoreSets([parts[0], parts[2]]), /run [0-9a-f]{16} is incomplete: shard\(s\) 1\/3 missing \(have 0\/3, 2\/3\)/);
  assert.throws(() => mergeScoreSets([parts[0], parts[1], parts[1], parts[2]], { names: ['a', 'b', 'c', 'd'] }), /shard 1\/3 of run .* is given twice: b and c/);
  assert.throws(() => mergeScoreSets([whole, parts[1]], { names: ['all.json', 'p1.json'] }), /all\.json holds all of run .*pass either the complete file or the shards/);
  const otherCount = shardOf(whole, { index: 1, count: 2 });
  assert.throws(() => mergeScoreSets([parts[0], otherCount], { names: ['x', 'y'] }), /y is shard 1\/2 but x is shard 0\/3 of the same run/);
});

test('shards of different runs given as one run are refused as disagreeing (model, class count, protocol), naming the files', () => {
  const a = wholeRun('TSM_a.pth', 0);
  const b = wholeRun('TSM_b.pth', 100);
  const half = (set: ScoreSet, i: number) => shardOf(set, { index: i, count: 2 });
  const names = ['run-a/scores.shard-0-of-2.json', 'run-b/scores.shard-1-of-2.json'];
  assert.throws(
    () => mergeScoreSets([half(a, 0), half(b, 1)], { names }),
    /^UsageError: the shards disagree: run-a\/scores\.shard-0-of-2\.json \(shard 0\/2\) and run-b\/scores\.shard-1-of-2\.json \(shard 1\/2\) come from different runs \(model: TSM_a\.pth \(8 segments\) vs TSM_b\.pth \(8 segments\)\); merge only the shards of one/,
  );
  // another class count and protocol: each difference is named
  const base = run('TSM_a.pth') as Extract<ScoreRun, { kind: 'test' | 'predict' }>;
  const threeCrops: ScoreRun = { ...base, protocol: { ...base.protocol, testCrops: 3 } };
  const c = { meta: { ...a.meta, run: threeCrops, runId: runIdOf(threeCrops), numClass: 4 }, scores: new Float32Array(N * 4) };
  assert.throws(() => mergeScoreSets([half(a, 0), half(c, 1)], { names }), /come from different runs \(class count: 3 vs 4; protocol: 1 crop x 1 clip vs 3 crops x 1 clip\)/);
  // one run with a shard missing still says so, next to a complete run
  assert.throws(() => mergeScoreSets([a, half(b, 0)]), /run [0-9a-f]{16} is incomplete: shard\(s\) 1\/2 missing/);
});

test('merging runs on the same videos makes an ensemble: sum(coeff * scores) / runs, labels must agree', () => {
  const a = wholeRun('a.pth', 0);
  const b = wholeRun('b.pth', 100);
  const bParts = [0, 1].map((i) => shardOf(b, { index: i, count: 2 }));
  const ens = mergeScoreSets([a, ...bParts], { coeff: [1, 0.5] });
  assert.deepEqual([...ens.scores], [...a.scores].map((x, i) => (x + 0.5 * b.scores[i]) / 2));
  assert.equal(ens.meta.run.kind, 'ensemble');
  assert.equal(ens.meta.runId, runIdOf(ens.meta.run));
  assert.deepEqual(ens.meta.videos, a.meta.videos);
  assert.throws(() => mergeScoreSets([a, b], { coeff: [1] }), /1 coefficients \(coeff\) for 2 runs/);
  const relabelled = wholeRun('c.pth', 0, [2, 2, 2, 2, 2, 2, 2]);
  assert.throws(() => mergeScoreSets([a, relabelled]), /video 0 is v0 \(label 2\) in one and v0 \(label 0\) in the other/);
  assert.throws(() => mergeScoreSets([]), /nothing to merge/);
});
