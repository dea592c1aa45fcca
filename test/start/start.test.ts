/**
 * `npm start` on a fresh clone: `node bin/tsm.js start` classifies new synthetic clips with the model shipped in
 * models/default/ and prints one line per clip, the accuracy and where to go next.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findDefaultOnlineOnnx, readDefaultModel } from '../../src/deploy/default-model.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsm = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'tsm.js'), ...args], { encoding: 'utf8', cwd: ROOT });

/** `  right_00001   right   left   0.62   WRONG (then right 0.38)` */
const CLIP_LINE = /^ {2}(\w+_\d{5})\s+(\w+)\s+(\w+)\s+(0\.\d\d|1\.00)\s+(ok|WRONG.*)$/;

test('the shipped default model has its card, weights, clip ONNX and online ONNX, a few MB in all', () => {
  const model = readDefaultModel();
  assert.ok(model, 'models/default/model.json is missing: run npm run train:default');
  const files = [model.file('clip', 'weights'), model.file('clip', 'onnx'), model.file('online', 'onlineOnnx')];
  for (const f of files) assert.ok(f !== undefined && existsSync(f), `missing ${f}`);
  assert.equal(findDefaultOnlineOnnx(), model.file('online', 'onlineOnnx'), 'tsm demo and the web demo pick the shipped online model');
  assert.equal(readDefaultModel(join(tmpdir(), 'no-such-model-dir')), undefined);
  const sizes = Object.values(model.card.models).flatMap((m) => Object.values(m?.sizes ?? {}));
  const total = sizes.reduce((a, b) => a + b, 0);
  assert.ok(total > 1e6 && total < 16e6, `shipped model files total ${total} bytes`);
  assert.match(model.card.models.clip?.commands.train ?? '', /^tsm train .* --arch mobilenetv2 .*--shift .*--pretrain scratch/);
  assert.ok((model.card.models.clip?.heldOut.top1 ?? 0) > 80, 'held-out top-1 of the shipped clip model');
});

test('tsm start classifies new clips: one line per clip, an accuracy line that agrees with them, next steps', () => {
  const out = mkdtempSync(join(tmpdir(), 'tsm-start-test-'));
  const t0 = Date.now();
  const r = tsm('start', '--seed', '12345', '--out', out);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const clips = lines.map((l) => CLIP_LINE.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  const model = readDefaultModel()!;
  assert.equal(clips.length, 2 * model.card.classes.length, r.stdout);
  assert.deepEqual([...new Set(clips.map((m) => m[2]))], [...model.card.classes], 'two clips of every class, in class order');
  for (const m of clips) {
    assert.ok(model.card.classes.includes(m[3]), `predicted label ${m[3]}`);
    assert.equal(m[5] === 'ok', m[2] === m[3], m[0]);
  }
  const correct = clips.filter((m) => m[2] === m[3]).length;
  const acc = /^accuracy: (\d+)\/(\d+) = ([\d.]+)%$/m.exec(r.stdout);
  assert.ok(acc, r.stdout);
  assert.deepEqual([Number(acc[1]), Number(acc[2])], [correct, clips.length]);
  assert.equal(acc[3], ((100 * correct) / clips.length).toFixed(1));
  assert.ok(correct >= clips.length * 0.75, `the default model should get most new clips right: ${correct}/${clips.length}`);
  assert.match(r.stdout, /seed 12345/);
  assert.match(r.stdout, /npm run demo:web/);
  assert.match(r.stdout, /README\.md/);
  // --out keeps the generated frame folders
  assert.equal(readdirSync(join(out, 'frames')).length, model.card.classes.length);
  assert.ok(seconds < 60, `tsm start took ${seconds} s`);
});

test('tsm start refuses the training seed and bad flags with exit code 2', () => {
  const model = readDefaultModel()!;
  const r = tsm('start', '--seed', String(model.card.dataset.seed));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /error TSM_USAGE: expected a seed other than the training set's/);
  const bad = tsm('start', '--clips', '0');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--clips/);
});
