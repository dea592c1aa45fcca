/**
 * TSN configurations beyond the fixtures, checked against golden outputs made at test time by our PyTorch
 * reference (test/models/ref/tsm_ref.py, torchvision ResNets + TSM semantics) through the real path:
 * `.pth` → our reader → our modules → ONNX → onnxruntime. The reference logits are computed in float64, and the
 * tolerance of each is its fp32 rounding-error budget (test/helpers/fp32_budget.py: LAMBDA times the Monte Carlo
 * sigma of an fp32 evaluation of the same network), which PyTorch's own fp32 logits must meet too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../../src/checkpoint/npy.js';
import { type TsnOverrides, TsnRunner, loadTsnCheckpoint } from '../../src/models/load.js';
import { assertWithin, describeBound, maxAbsDiff } from '../helpers/assert-close.js';
import { U32, U64 } from '../helpers/fp32-bounds.js';
import { runPython } from '../helpers/python.js';

interface RefCase {
  readonly name: string;
  /** File name; TSM_ names configure themselves, others get `overrides`. */
  readonly file: string;
  readonly tsn: Record<string, unknown>;
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly seed: number;
  readonly overrides?: TsnOverrides;
  /** Expected output shape. */
  readonly out: readonly number[];
}

const RGB = { modality: 'RGB' } as const;
const CASES: readonly RefCase[] = [
  {
    name: 'r18_block',
    file: 'TSM_jester_RGB_resnet18_shift8_block_avg_segment4_e1.pth',
    tsn: { ...RGB, num_class: 27, num_segments: 4, base_model: 'resnet18', is_shift: true, shift_place: 'block' },
    batch: 2, height: 32, width: 32, seed: 11, out: [2, 27],
  },
  {
    name: 'r50_tpool',
    file: 'TSM_hmdb51_RGB_resnet50_shift8_blockres_tpool_avg_segment8_e1.pth',
    tsn: { ...RGB, num_class: 51, num_segments: 8, base_model: 'resnet50', is_shift: true, temporal_pool: true },
    batch: 2, height: 32, width: 32, seed: 12, out: [2, 51],
  },
  {
    name: 'r50_nl',
    file: 'r50_nl.pth',
    tsn: { ...RGB, num_class: 7, num_segments: 4, base_model: 'resnet50', is_shift: true, non_local: true },
    batch: 2, height: 64, width: 48, seed: 13,
    overrides: { numSegments: 4, shiftDiv: 8, nonLocal: true }, out: [2, 7],
  },
  {
    name: 'r34_div4',
    file: 'TSM_ucf101_RGB_resnet34_shift4_blockres_avg_segment3_e1.pth',
    tsn: { ...RGB, num_class: 101, num_segments: 3, base_model: 'resnet34', is_shift: true, shift_div: 4 },
    batch: 2, height: 32, width: 32, seed: 14, out: [2, 101],
  },
  {
    name: 'r50_seg16',
    file: 'TSM_jester_RGB_resnet50_shift8_blockres_avg_segment16_e1.pth',
    tsn: { ...RGB, num_class: 27, num_segments: 16, base_model: 'resnet50', is_shift: true },
    batch: 1, height: 32, width: 32, seed: 15, out: [1, 27],
  },
  {
    name: 'r50_flow',
    file: 'TSM_jester_Flow_resnet50_shift8_blockres_avg_segment4_e1.pth',
    tsn: { modality: 'Flow', num_class: 27, num_segments: 4, base_model: 'resnet50', is_shift: true },
    batch: 2, height: 32, width: 32, seed: 16, out: [2, 27],
  },
  {
    name: 'r18_identity',
    file: 'r18_identity.pth',
    tsn: { ...RGB, num_class: 5, num_segments: 4, base_model: 'resnet18', is_shift: true, consensus_type: 'identity' },
    batch: 2, height: 32, width: 32, seed: 17,
    overrides: { arch: 'resnet18', numSegments: 4, consensusType: 'identity', shiftDiv: 8 }, out: [2, 4, 5],
  },
  {
    name: 'mbv2_dropout0',
    file: 'TSM_jester_RGB_mobilenetv2_shift8_blockres_avg_segment4_e1.pth',
    tsn: { ...RGB, num_class: 27, num_segments: 4, base_model: 'mobilenetv2', is_shift: true, dropout: 0 },
    batch: 2, height: 64, width: 64, seed: 18, out: [2, 27],
  },
  {
    name: 'r101_nround2',
    file: 'TSM_something_RGB_resnet101_shift8_blockres_avg_segment2_e1.pth',
    tsn: { ...RGB, num_class: 174, num_segments: 2, base_model: 'resnet101', is_shift: true },
    batch: 1, height: 32, width: 32, seed: 19, out: [1, 174],
  },
  {
    name: 'r34_tsn_softmax',
    file: 'TSM_hmdb51_RGB_resnet34_avg_segment3_e1.pth',
    tsn: { ...RGB, num_class: 51, num_segments: 3, base_model: 'resnet34', before_softmax: false },
    batch: 2, height: 32, width: 32, seed: 20,
    overrides: { beforeSoftmax: false }, out: [2, 51],
  },
];

const here = dirname(fileURLToPath(import.meta.url));
let dir = '';
const maxErrors = new Map<string, number>();

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-ref-'));
  const spec = CASES.map(({ name, file, tsn, batch, height, width, seed }) => ({ name, file, tsn, batch, height, width, seed }));
  runPython(`import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')`, [join(here, 'ref', 'tsm_ref.py'), dir, JSON.stringify(spec)], 900_000);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (process.env.TSM_REPORT_ERRORS) console.log(JSON.stringify(Object.fromEntries(maxErrors)));
});

for (const c of CASES) {
  test(`TSN ${c.name} matches the PyTorch reference`, async (t) => {
    const x = await readNpy(join(dir, `${c.name}_input.npy`));
    const expected = await readNpy(join(dir, `${c.name}_logits64.npy`));
    const torch32 = (await readNpy(join(dir, `${c.name}_logits.npy`))).data as Float32Array;
    const sigma = (await readNpy(join(dir, `${c.name}_sigma.npy`))).data as Float64Array;
    const { model } = await loadTsnCheckpoint(join(dir, c.file), c.overrides ?? {}, { inputChannels: x.shape[1] });
    const runner = new TsnRunner(model, { threads: 1 });
    try {
      const y = await runner.logits(x);
      assert.deepEqual(y.shape, c.out);
      assert.deepEqual(expected.shape, c.out);
      const meta = JSON.parse(readFileSync(join(dir, `${c.name}_meta.json`), 'utf8')) as { lambda: number };
      // sigma floored at its median over the logits (fp32_budget.py); the float64 reference's own error is the same
      // budget at u = 2^-53
      const median = Array.from(sigma).sort((p, q) => p - q)[Math.floor(sigma.length / 2)];
      const bound = Array.from(sigma, (s) => meta.lambda * Math.max(s, median) * (1 + U64 / U32));
      const err = maxAbsDiff(y.data as Float32Array, expected.data as Float64Array);
      t.diagnostic(describeBound(`${c.name} ours vs float64`, assertWithin(y.data as Float32Array, expected.data as Float64Array, bound, `${c.name} logits`)));
      // the budget must hold for another fp32 implementation too, or it is no bound for fp32 arithmetic
      t.diagnostic(describeBound(`${c.name} PyTorch fp32 vs float64`, assertWithin(torch32, expected.data as Float64Array, bound, `${c.name} PyTorch fp32 logits`)));
      maxErrors.set(c.name, err);
    } finally {
      await runner.release();
    }
  });
}
