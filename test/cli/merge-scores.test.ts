/** `tsm merge-scores` on shard files of two different runs names the files and how the runs differ. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { SCORES_FORMAT, type ScoreRun, type ScoreSet, runIdOf, writeScoreSet } from '../../src/evaluate/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tsm-merge-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Shard `index` of 2 of a `tsm test` run of `weights` over 4 videos and `numClass` classes. */
function shard(weights: string, numClass: number, index: number): ScoreSet {
  const run: ScoreRun = {
    kind: 'test',
    dataset: 'something',
    models: [{ weights, segments: 8, coeff: 1, list: 'val.txt' }],
    protocol: { testCrops: 1, fullRes: false, twiceSample: false, denseSample: false, softmax: false },
    maxNum: null,
  };
  const videos = [index, index + 2].map((i) => ({ index: i, id: `v${i}`, label: i % numClass }));
  return {
    meta: { format: SCORES_FORMAT, runId: runIdOf(run), run, numClass, categories: Array(numClass).fill(null), scoreType: 'logits', total: 4, shard: { index, count: 2 }, videos },
    scores: new Float32Array(2 * numClass).fill(0.5),
  };
}

test('tsm merge-scores: shards of two models are refused as disagreeing, naming both files (exit 2, nothing written)', async () => {
  const shards = join(dir, 'shards');
  const a = await writeScoreSet(shards, shard('TSM_something_RGB_resnet50_segment8.pth', 174, 0));
  const b = await writeScoreSet(shards, shard('TSM_kinetics_RGB_resnet50_segment8.pth', 400, 1));
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'tsm.js'), 'merge-scores', shards], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^error TSM_USAGE: the shards disagree: /);
  assert.ok(r.stderr.includes(`${a} (shard 0/2) and ${b} (shard 1/2) come from different runs`), r.stderr);
  assert.match(r.stderr, /model: TSM_something_RGB_resnet50_segment8\.pth \(8 segments\) vs TSM_kinetics_RGB_resnet50_segment8\.pth \(8 segments\); class count: 174 vs 400/);
  assert.doesNotMatch(r.stderr, /missing/);
  assert.equal(existsSync(join(shards, 'scores.json')), false);
});
