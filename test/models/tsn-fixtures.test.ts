/**
 * TSN parity with the golden fixtures of the original code, through the real path: `.pth` (zip and legacy) →
 * our reader → our modules → ONNX → onnxruntime; and `tsm infer` end to end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../../src/checkpoint/npy.js';
import { CheckpointError, ShapeError } from '../../src/errors.js';
import { loadModel, loadTsnCheckpoint } from '../../src/models/load.js';
import { float32 } from '../../src/tensor/index.js';
import { assertClose, maxAbsDiff } from '../helpers/assert-close.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';

interface TsnFixture {
  readonly constructor_args: { base_model: string; num_class: number; num_segments: number; shift_div: number; shift_place: 'blockres' | 'block' };
  readonly files: { input: string; logits: string; checkpoint_zip: string; checkpoint_legacy?: string };
  /** The manifest's tolerance for |ours - PyTorch fp32| (100x PyTorch's own fp32-vs-fp64 error): kept as given. */
  readonly tolerance: { atol: number; rtol: number };
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

for (const name of ['tsm_mobilenetv2', 'tsm_resnet50'] as const) {
  const fx = fixtureCase(name) as unknown as TsnFixture;
  const ckpts = [fx.files.checkpoint_zip, fx.files.checkpoint_legacy].filter((f): f is string => f !== undefined);
  for (const ckpt of ckpts) {
    test(`${name}: logits of ${ckpt} match the original at the manifest tolerance`, async () => {
      const a = fx.constructor_args;
      const x = await fixtureNpy(fx.files.input);
      const expected = await fixtureNpy(fx.files.logits);
      // flags as a user would pass them; the arch and class count also come from the checkpoint itself
      const runner = await loadModel(fixturePath(ckpt), { numSegments: a.num_segments, isShift: true, shiftDiv: a.shift_div, shiftPlace: a.shift_place, threads: 2 });
      try {
        assert.equal(runner.model.config.baseModel, a.base_model);
        assert.equal(runner.model.config.numClass, a.num_class);
        const y = await runner.logits(x);
        assert.deepEqual(y.shape, expected.shape);
        const err = maxAbsDiff(y.data as Float32Array, expected.data as Float32Array);
        assertClose(y.data as Float32Array, expected.data as Float32Array, { ...fx.tolerance, what: `${name} logits (max |diff| ${err})` });
        if (process.env.TSM_REPORT_ERRORS) console.log(`${ckpt}: max |diff| ${err}`);
        // a wrong input shape names both shapes
        await assert.rejects(runner.logits(float32([1, 21, 32, 32])), (e: unknown) => e instanceof ShapeError && /\[B, 24, H, W\].*got \[1,21,32,32\]/.test(e.message));
      } finally {
        await runner.release();
      }
    });
  }
}

test('loading a fixture checkpoint as another arch, class count or shift layout names what was expected and found', async () => {
  const ckpt = fixturePath('tsm_resnet50.pth');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ arch: 'mobilenetv2' }, /holds a resnet50 but the model is mobilenetv2 \(from the options\); pass arch: 'resnet50'$/],
    [{ arch: 'resnet101' }, /holds a resnet50 but the model is resnet101/],
    [{ numClass: 400 }, /has 10 classes .* but num_class is 400 \(from the options\); pass numClass: 10$/],
    [{ isShift: false }, /has temporal-shift weights \(e\.g\. base_model\.layer1\.0\.conv1\.net\.weight\) but the model has no shift \(from the options\); pass isShift: true$/],
    [{ shiftPlace: 'block' }, /shifts at "blockres" .* but the model shifts at "block" \(from the options\); pass shiftPlace: 'blockres'$/],
    [{ nonLocal: true }, /has no non-local blocks .*\(from the options\); leave out nonLocal$/],
    [{ modality: 'Flow' }, /first conv takes 3 channels \(RGB\) but the model is Flow with new_length 5/],
  ];
  for (const [overrides, re] of cases) {
    await assert.rejects(loadTsnCheckpoint(ckpt, { numSegments: 8, ...overrides }), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, `${JSON.stringify(overrides)}: ${String(e)}`);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, / --[a-z]/, 'a library call names options, not flags');
      return true;
    });
  }
  await assert.rejects(loadTsnCheckpoint(ckpt, {}), /missing num_segments \(pass numSegments: T\)/);
});

test('tsm infer runs a fixture checkpoint end to end', async () => {
  const fx = fixtureCase('tsm_resnet50') as unknown as TsnFixture;
  const dir = mkdtempSync(join(tmpdir(), 'tsm-infer-'));
  const tsm = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin', 'tsm.js'), 'infer', ...args], { encoding: 'utf8', cwd: repoRoot });
  try {
    const out = join(dir, 'y.npy');
    const io = ['--weights', fixturePath(fx.files.checkpoint_zip), '--input', fixturePath(fx.files.input), '--output', out];
    const r = tsm(...io, '--segments', '8', '--shift', '--shift_div', '8', '--threads', '2');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /wrote .*y\.npy \[1,10\] \(resnet50, 8 segments, shift 1\/8 blockres/);
    const y = await readNpy(out);
    const expected = await fixtureNpy(fx.files.logits);
    assertClose(y.data as Float32Array, expected.data as Float32Array, fx.tolerance);

    // a wrong input shape: exit 1 with a TSM_SHAPE message naming both shapes
    const bad = tsm(...io, '--segments', '6');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /error TSM_SHAPE: --input \S*tsm_resnet50_input\.npy: input should be \[B, 18, H, W\] \(6 segments.*got \[1,24,112,112\]/);
    // a bad flag value: exit 2
    const usage = tsm(...io, '--shift-place', 'middle');
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /error TSM_USAGE: expected one of blockres, block for --shift-place but received "middle"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
