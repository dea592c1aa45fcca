import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, test } from 'node:test';
import { parseDeployMetadata } from '../../src/deploy/metadata.js';
import { readOnnxMetadata } from '../../src/deploy/onnx-metadata.js';
import { fixtureCase, fixturePath } from '../helpers/fixtures.js';
import { onlineCheckpoint } from './online-fixture.js';

const repo = resolve(import.meta.dirname, '..', '..');
const tsm = (args: readonly string[]) => spawnSync(process.execPath, [join(repo, 'bin', 'tsm.js'), 'export', ...args], { encoding: 'utf8', cwd: repo, timeout: 120_000 });

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-export-cli-'));
});

test('tsm export (clip): snake_case aliases of the original scripts, dynamic batch, metadata', () => {
  const weights = fixturePath((fixtureCase('tsm_mobilenetv2').files as { checkpoint_zip: string }).checkpoint_zip);
  const out = join(dir, 'clip.onnx');
  const r = tsm(['--weights', weights, '--out', out, '--num_segments', '8', '--input_size', '112', '--dynamic-batch', '--shift_div', '8']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*clip\.onnx \([\d.]+ MB\): mobilenetv2 clip model, 8 segments, dynamic batch, 27 classes, input 112x112/);
  assert.match(r.stderr, /note: clip model: mobilenetv2, 27 classes, 8 segments, RGB, shift 1\/8 blockres/);
  const info = parseDeployMetadata(readOnnxMetadata(readFileSync(out)));
  assert.deepEqual([info.kind, info.segments, info.dynamicBatch, info.inputSize], ['clip', 8, true, [112, 112]]);
});

test('tsm export --online takes class names from --dataset (a folder with dataset.json)', () => {
  const ds = join(dir, 'gestures');
  mkdirSync(ds);
  writeFileSync(join(ds, 'dataset.json'), JSON.stringify({ name: 'gestures', categories: 'classes.txt', trainList: 'train.txt', valList: 'val.txt' }));
  writeFileSync(join(ds, 'classes.txt'), Array.from({ length: 27 }, (_, i) => `g${i}`).join('\n'));
  const out = join(dir, 'online.onnx');
  const r = tsm(['--weights', onlineCheckpoint(), '--out', out, '--online', '--dataset', ds, '--input-size', '160', '--opset', '17']);
  assert.equal(r.status, 0, r.stderr);
  const info = parseDeployMetadata(readOnnxMetadata(readFileSync(out)));
  assert.equal(info.labels[5], 'g5');
  assert.deepEqual(info.inputSize, [160, 160]);
  assert.equal(info.scaleSize, 182);
  assert.deepEqual(info.bufferShapes[0], [1, 3, 40, 40]);
});

test('tsm export usage errors exit with code 2 and name the flag; nothing is written', () => {
  const cases: [string[], RegExp][] = [
    [['--online', '--dynamic-batch'], /--dynamic-batch applies to the clip model only/],
    [['--online', '--opset', '11'], /expected an integer from 13 to 21 .* for --opset but received 11/],
    [['--online', '--input-size', '0'], /expected a positive integer for --input-size but received "0"/],
    [['--online', '--labels', join(dir, 'two.txt')], /got 2 labels for a model with 27 classes/],
    [['--online', '--labels', 'a.txt', '--dataset', 'jester'], /either --labels FILE or --dataset NAME/],
  ];
  writeFileSync(join(dir, 'two.txt'), 'a\nb\n');
  const out = join(dir, 'bad', 'x.onnx');
  for (const [args, msg] of cases) {
    const r = tsm(['--weights', onlineCheckpoint(), '--out', out, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, /^error TSM_USAGE: /m);
    assert.match(r.stderr, msg);
  }
  assert.equal(existsSync(out), false);
});
