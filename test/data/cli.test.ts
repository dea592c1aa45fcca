/**
 * The data verbs, run as a user would: `node bin/tsm.js <verb> ...`. Each spawn costs about 2 s (tsx compiles the
 * CLI), so the checks are packed into few runs.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseMakeListsFlags } from '../../src/cli/commands/data-make-lists.js';

const TSM = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'tsm.js');
const tsm = (...args: string[]) => spawnSync(process.execPath, [TSM, ...args], { encoding: 'utf8' });

test('make-synthetic writes the standard layout; bad flags exit 2', () => {
  const out = mkdtempSync(join(tmpdir(), 'tsm-cli-syn-'));
  const r = tsm('make-synthetic', out, '--classes', 'left,right', '--clips', '5', '--size', '24', '--frames', '6', '--seed', '2', '--val_fraction', '0.4');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote 6 train and 4 val clips of left, right/);
  assert.equal(readFileSync(join(out, 'category.txt'), 'utf8'), 'left\nright\n');
  const train = readFileSync(join(out, 'train_videofolder.txt'), 'utf8').trim().split('\n');
  assert.equal(train.length, 6);
  assert.match(train[0], /^left\/left_000\d\d 6 0$/);
  assert.equal(readdirSync(join(out, 'frames', 'right', 'right_00000')).length, 6);
  assert.equal(JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8')).flip, false);
  const bad = tsm('make-synthetic', out, '--classes', 'left,sideways', '--clips', '2');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /error TSM_USAGE: Unsupported class: sideways\. Must be one of \[right, left/);
});

test('make-lists builds lists from class folders and from Something-Something v2 JSON', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-cli-lists-'));
  const frames = join(root, 'frames');
  const make = (rel: string, n: number) => {
    mkdirSync(join(frames, rel), { recursive: true });
    for (let i = 1; i <= n; i++) writeFileSync(join(frames, rel, `${String(i).padStart(6, '0')}.jpg`), '');
  };
  ['cat/a', 'cat/b', 'dog/c', 'dog/d', 'dog/e'].forEach((v, i) => make(v, 3 + i));
  const r = tsm('make-lists', 'folders', '--frames', frames, '--out', join(root, 'lists'), '--tmpl', '{:06d}.jpg', '--val-fraction', '0.4');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(root, 'lists', 'category.txt'), 'utf8'), 'cat\ndog\n');
  const all = [...readFileSync(join(root, 'lists', 'train_videofolder.txt'), 'utf8').trim().split('\n'), ...readFileSync(join(root, 'lists', 'val_videofolder.txt'), 'utf8').trim().split('\n')].sort();
  assert.deepEqual(all, ['cat/a 3 0', 'cat/b 4 0', 'dog/c 5 1', 'dog/d 6 1', 'dog/e 7 1']);

  const sth = join(root, 'sth');
  mkdirSync(sth);
  ['1', '2', '3'].forEach((id, i) => make(id, 4 + i));
  writeFileSync(join(sth, 'labels.json'), JSON.stringify({ 'Pushing something from left to right': '0', 'Pushing something from right to left': '1' }));
  writeFileSync(join(sth, 'train.json'), JSON.stringify([{ id: '1', template: 'Pushing [something] from left to right' }, { id: '9', template: 'Pushing [something] from left to right' }]));
  writeFileSync(join(sth, 'val.json'), JSON.stringify([{ id: '2', template: 'Pushing [something] from right to left' }]));
  const s = tsm('make-lists', 'something-v2', '--frames', frames, '--out', join(sth, 'out'), '--tmpl', '{:06d}.jpg', '--labels', join(sth, 'labels.json'), '--train', join(sth, 'train.json'), '--val', join(sth, 'val.json'));
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /train: 1 videos, 1 missing frame folders/);
  assert.equal(readFileSync(join(sth, 'out', 'train_videofolder.txt'), 'utf8'), '1 4 0\n');
  assert.equal(readFileSync(join(sth, 'out', 'val_videofolder.txt'), 'utf8'), '2 5 1\n');
  assert.match(readFileSync(join(sth, 'out', 'missing_train_videofolder.txt'), 'utf8'), /frames\/9\n/);
  assert.equal(JSON.parse(readFileSync(join(sth, 'out', 'dataset.json'), 'utf8')).flip, false);
  assert.throws(() => parseMakeListsFlags('youtube', { frames, out: root, tmpl: 'img_{:05d}.jpg' }), /expected one of kinetics, something-v1/);
});

test('extract-frames: frames per video, resumable, a broken video reported with no half folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-cli-extract-'));
  const videos = join(root, 'videos');
  mkdirSync(join(videos, 'class_a'), { recursive: true });
  for (const [name, secs] of [['v1', 1], ['v2', 2]] as const) {
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc=s=80x60:r=5:d=${secs}`, '-pix_fmt', 'yuv420p', join(videos, 'class_a', `${name}.mp4`)]);
  }
  writeFileSync(join(videos, 'class_a', 'broken.mp4'), 'this is not a video');
  const out = join(root, 'frames');
  const r = tsm('extract-frames', videos, out, '--short-side', '32', '--jobs', '2');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /extracted 2 videos, skipped 0 already done, 1 failed/);
  assert.match(r.stderr, /failed: .*broken\.mp4: ffmpeg exit/);
  assert.deepEqual(readdirSync(join(out, 'class_a')).sort(), ['v1', 'v2']); // no broken/ and no .broken.tmp
  assert.equal(readdirSync(join(out, 'class_a', 'v2')).length, 10);
  assert.ok(existsSync(join(out, 'class_a', 'v1', 'img_00005.jpg')));
  const again = tsm('extract-frames', join(videos, 'class_a', 'v1.mp4'), join(out, 'class_a'));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /extracted 0 videos, skipped 1 already done, 0 failed/);
});
