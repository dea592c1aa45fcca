/**
 * `tsm train` on broken data, run as a user would (`node bin/tsm.js train ... -j 2`): every case exits 1 with one
 * `error TSM_DATA` line naming the list file and line, no stack trace, and no hang. A process still alive after
 * HANG_MS is killed and the test fails: the worker threads of a loader left open keep Node running after the error
 * has been printed. Lists are checked before any worker starts; broken frames are met by running workers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { formatTemplate } from '../../src/data/template.js';

const TSM = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'tsm.js');
/** Far above a clean failure (a few seconds of tsx start-up and worker start-up, slower on a busy machine). */
const HANG_MS = 90_000;

interface Outcome {
  readonly status: number | null;
  readonly stderr: string;
  readonly stdout: string;
  readonly hung: boolean;
}

/** Runs the CLI; kills it (and reports `hung`) if it is still running after HANG_MS. */
function tsm(args: readonly string[]): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [TSM, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, HANG_MS);
    child.on('close', (status) => {
      clearTimeout(timer);
      done({ status, stderr, stdout, hung });
    });
  });
}

let dir = '';
let syn = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-data-errors-'));
  syn = join(dir, 'syn');
  await makeSyntheticDataset(syn, { classes: ['left', 'right'], clips: 6, size: 32, frames: 8, valFraction: 1 / 3, seed: 3 });
  const frames = join(syn, 'frames');
  const frame = (clip: string, i: number) => join(frames, clip, formatTemplate('img_{:05d}.jpg', i));
  // frames 1 and 8 exist, so the list check at open passes; every sampled middle frame is broken
  cpSync(join(frames, 'left', 'left_00002'), join(frames, 'left', 'corrupt'), { recursive: true });
  for (let i = 2; i <= 8; i++) writeFileSync(frame('left/corrupt', i), 'not a jpeg');
  cpSync(join(frames, 'right', 'right_00002'), join(frames, 'right', 'holed'), { recursive: true });
  for (let i = 2; i <= 7; i++) rmSync(frame('right/holed', i));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a list file under the test folder and returns its path. */
function list(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const GOOD = 'left/left_00002 8 0\nright/right_00002 8 1\n';

let runs = 0;
/**
 * `tsm train` on the synthetic dataset with two loader workers; `extra` names the broken list. Each call has its own
 * run folders: cases run at once, and two runs into one folder are refused (TSM_LOCKED) before the data is read.
 */
const train = (...extra: string[]): Promise<Outcome> => {
  const run = join(dir, `run${runs++}`);
  return tsm([
    'train', syn, 'RGB', '--arch', 'resnet18', '--num_segments', '2', '--pretrain', 'scratch', '--epochs', '1', '-b', '2', '-j', '2', '--input-size', '32',
    '--root-log', join(run, 'log'), '--root-model', join(run, 'ck'), '--threads', '1', '--no-progress', ...extra,
  ]);
};

/** Exit 1, not killed, one `error TSM_DATA` line matching `message`, and no stack trace. */
function assertDataError(r: Outcome, message: RegExp): void {
  assert.ok(!r.hung, `tsm train still running ${HANG_MS / 1000} s after the error; stderr:\n${r.stderr}`);
  assert.equal(r.status, 1, r.stderr);
  assert.equal((r.stderr.match(/^error /gm) ?? []).length, 1, r.stderr);
  assert.match(r.stderr, /^error TSM_DATA: /m);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

// Each case is its own process; four run at once.
describe('tsm train -j 2 on broken data exits 1, naming the list file and line', { concurrency: 4 }, () => {
  test('a malformed frame count', async () => {
    const r = await train('--train-list', list('bad-count.txt', 'left/left_00002 8 0\nleft/left_00003 x8 0\n'));
    assertDataError(r, /bad-count\.txt:2: num_frames must be a non-negative integer, got "x8"/);
  });

  test('label -1', async () => {
    const r = await train('--train-list', list('minus-one.txt', 'left/left_00002 8 0\nright/right_00002 8 -1\n'));
    assertDataError(r, /minus-one\.txt:2: label must be a non-negative integer, got "-1"/);
  });

  test('a label outside the dataset\'s classes (checked before training, not left to onnxruntime)', async () => {
    const r = await train('--train-list', list('out-of-range.txt', 'left/left_00002 8 0\n\nright/right_00002 8 2\n'));
    assertDataError(r, /out-of-range\.txt:3: label 2 of right\/right_00002 is outside the 2 classes \(valid labels 0\.\.1\)/);
  });

  test('a missing frame folder (the line counts the blank line before it)', async () => {
    const r = await train('--train-list', list('no-folder.txt', 'left/left_00002 8 0\n\nleft/not_there 8 0\n'));
    assertDataError(r, /no-folder\.txt have missing or too-short frame folders:\n {2}line 3: frame folder \S+not_there does not exist/);
  });

  test('an empty training list', async () => {
    assertDataError(await train('--train-list', list('empty-train.txt', '')), /empty-train\.txt lists no videos/);
  });

  test('an empty validation list', async () => {
    const r = await train('--train-list', list('good-train.txt', GOOD), '--val-list', list('empty-val.txt', '\n'));
    assertDataError(r, /empty-val\.txt lists no videos/);
  });

  test('fewer training clips than one batch: a usage error once the validation workers have started', async () => {
    // the last -b wins, as with argparse
    const r = await train('--train-list', list('one-batch-short.txt', GOOD), '--val-list', list('good-val0.txt', GOOD), '-b', '4');
    assert.ok(!r.hung, `tsm train still running ${HANG_MS / 1000} s after the error; stderr:\n${r.stderr}`);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^error TSM_USAGE: the training list has 2 clips, fewer than one batch of 4/m);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  });

  test('a broken frame met by a training loader worker', async () => {
    const r = await train('--train-list', list('corrupt-train.txt', 'left/corrupt 8 0\nright/right_00002 8 1\n'), '--val-list', list('good-val.txt', GOOD));
    assertDataError(r, /corrupt-train\.txt:1: video left\/corrupt: cannot decode \S+corrupt\/img_0000\d\.jpg/);
  });

  test('a missing frame met by a validation loader worker (--evaluate)', async () => {
    const r = await train('--train-list', list('good-train2.txt', GOOD), '--val-list', list('holed-val.txt', 'left/left_00000 8 0\n\nright/holed 8 1\n'), '--evaluate');
    assertDataError(r, /holed-val\.txt:3: video right\/holed: cannot decode \S+holed\/img_0000\d\.jpg: the file does not exist/);
  });
});
