/** `--weights` takes a zoo name wherever weights are taken: a cached zoo file resolves without any network. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy } from '../../src/checkpoint/npy.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';
import { assertClose } from '../helpers/assert-close.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tsm-weights-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('tsm infer-online --weights <zoo name> uses the cached file (no download), and an unknown name lists the zoo', async () => {
  const fx = fixtureCase('online_mobilenetv2');
  const files = fx.files as { state_dict: string; steps: { input: string; logits: string }[] };
  const cache = join(dir, 'cache');
  // The fixture has the layout of the zoo's online demo checkpoint (27 Jester classes); place it as that cached file.
  const { mkdirSync } = await import('node:fs');
  mkdirSync(cache, { recursive: true });
  copyFileSync(fixturePath(files.state_dict), join(cache, 'mobilenetv2_jester_online.pth.tar'));
  const frames = await fixtureNpy(files.steps[0].input);
  const framesPath = join(dir, 'frames.npy');
  await writeNpy(framesPath, { ...frames, shape: [1, ...frames.shape] });
  const env = { ...process.env, TSM_CACHE: cache };
  const run = (weights: string) =>
    spawnSync(process.execPath, [join(repoRoot, 'bin', 'tsm.js'), 'infer-online', '--weights', weights, '--frames', framesPath, '--output', join(dir, 'y.npy')], { encoding: 'utf8', env, timeout: 120_000 });
  const ok = run('mobilenetv2_jester_online');
  assert.equal(ok.status, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /downloading/);
  const tol = fx.tolerance as { atol: number; rtol: number };
  assertClose((await readNpy(join(dir, 'y.npy'))).data as Float32Array, (await fixtureNpy(files.steps[0].logits)).data as Float32Array, tol);
  const bad = run('no_such_model');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /mobilenetv2_jester_online/);
});
