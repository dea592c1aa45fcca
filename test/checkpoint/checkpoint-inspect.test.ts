// Tests src/cli/commands/checkpoint-inspect.ts by running the real `tsm` binary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { writePth } from '../../src/checkpoint/read-file.js';
import { pyFloat } from '../../src/checkpoint/py-values.js';
import { float32, hostTensor } from '../../src/tensor/index.js';
import { fixturePath } from '../helpers/fixtures.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tsm-inspect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tsm = (...args: string[]) => spawnSync(process.execPath, [join(repo, 'bin', 'tsm.js'), ...args], { encoding: 'utf8', cwd: repo });

test('tsm inspect-checkpoint lists format, meta and every tensor of a fixture', () => {
  const path = fixturePath('tsm_mobilenetv2_legacy.pth');
  const r = tsm('inspect-checkpoint', path);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], `${path}: legacy format, 314 tensors, 8.7 MiB of tensor data`);
  assert.deepEqual(lines.slice(1, 4), ['epoch: 1', 'arch: mobilenetv2', 'best_prec1: 12.5']);
  assert.match(lines[6], /^module\.base_model\.features\.0\.0\.weight\s+float32\s+\[32, 3, 3, 3\]$/);
  assert.match(lines.at(-2) ?? '', /^module\.new_fc\.bias\s+float32\s+\[27\]$/);
});

test('--json and --strip-prefix', async () => {
  const path = join(dir, 'small.pth');
  await writePth(path, {
    stateDict: { 'module.fc.weight': float32([2, 3]), 'module.steps': hostTensor('int64', [], new BigInt64Array([4n])) },
    meta: { epoch: 2, arch: 'resnet50', optimizer: { lr: 0.1 }, best_prec1: pyFloat(40) },
  });
  const r = tsm('inspect-checkpoint', path, '--json', '--strip-prefix', 'module.');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    file: path,
    format: 'zip',
    epoch: 2,
    arch: 'resnet50',
    bestPrec1: 40,
    entries: { optimizer: 'dict' },
    tensorBytes: 32,
    tensors: [
      { key: 'fc.weight', dtype: 'float32', shape: [2, 3] },
      { key: 'steps', dtype: 'int64', shape: [] },
    ],
  });
});

test('a file that is not a checkpoint exits 1 with the error code; a missing argument exits 2', () => {
  const bad = fixturePath('manifest.json');
  const r = tsm('inspect-checkpoint', bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error TSM_CHECKPOINT_FORMAT: .*manifest\.json is not a PyTorch checkpoint/);
  assert.equal(tsm('inspect-checkpoint').status, 2);
});
