import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy } from '../../src/checkpoint/npy.js';
import { float32 } from '../../src/tensor/index.js';
import { assertClose } from '../helpers/assert-close.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fx = fixtureCase('online_mobilenetv2');
const files = fx.files as { state_dict: string; steps: { input: string; logits: string }[] };
// the fixture manifest's tolerance for |ours - PyTorch fp32|, kept as the manifest gives it (checked on AVX2 and AVX-512)
const tol = fx.tolerance as { atol: number; rtol: number };
const dir = mkdtempSync(join(tmpdir(), 'tsm-infer-online-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tsm = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin', 'tsm.js'), ...args], { encoding: 'utf8', timeout: 120_000 });

test('tsm infer-online --weights --frames --output writes [S, num_class] logits matching the fixture steps', async () => {
  const [, , h, w] = fx.input_shape as number[];
  const s = files.steps.length;
  const frames = float32([s, 1, 3, h, w]);
  for (const [i, step] of files.steps.entries()) (frames.data as Float32Array).set((await fixtureNpy(step.input)).data as Float32Array, i * 3 * h * w);
  const framesPath = join(dir, 'frames.npy');
  const outPath = join(dir, 'logits.npy');
  await writeNpy(framesPath, frames);
  const r = tsm('infer-online', '--weights', fixturePath(files.state_dict), '--frames', framesPath, '--output', outPath);
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
  const out = await readNpy(outPath);
  const c = (fx.output_shape as number[])[1];
  assert.equal(out.dtype, 'float32');
  assert.deepEqual(out.shape, [s, c]);
  for (const [i, step] of files.steps.entries()) {
    const row = (out.data as Float32Array).subarray(i * c, (i + 1) * c);
    assertClose(row, (await fixtureNpy(step.logits)).data as Float32Array, { ...tol, what: `frame ${i}` });
  }
});

test('tsm infer-online rejects frames that are not [S, 1, 3, H, W] with exit code 2', async () => {
  const bad = join(dir, 'bad.npy');
  await writeNpy(bad, float32([2, 3, 32, 32]));
  const r = tsm('infer-online', '--weights', fixturePath(files.state_dict), '--frames', bad, '--output', join(dir, 'x.npy'));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /error TSM_USAGE: --frames .* has shape \[2,3,32,32\]; expected \[S, 1, 3, H, W\]/);
  const missing = tsm('infer-online', '--frames', bad, '--output', join(dir, 'x.npy'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--weights/);
});
