/**
 * onnxruntime picks its kernels and NCHWc block size by CPU (16 with AVX-512, 8 with AVX2), so a machine runs only
 * one of the two paths natively. This runs the NCHWc rewrite test and a fixture training step in-process under
 * qemu-user with an AVX2-only CPU model (Haswell), so that the block-8 path and the AVX2 GEMM/conv kernels are
 * exercised on every machine, AVX-512 ones included. qemu-user comes from scripts/install-system-deps.sh.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const QEMU = 'qemu-x86_64';
const CPU_MODEL = 'Haswell-noTSX';

/** Runs one test file in-process under the emulated CPU (`node --test` would spawn an unemulated child). */
function runEmulated(file: string, namePattern?: string): string {
  const args = ['-cpu', CPU_MODEL, process.execPath, '--import', 'tsx', '--test-reporter=tap', ...(namePattern ? ['--test-name-pattern', namePattern] : []), file];
  // without NODE_TEST_CONTEXT the child reports in TAP instead of to this runner's serialised channel
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  const r = spawnSync(QEMU, args, { cwd: root, env, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`cannot run ${QEMU}: ${r.error.message} (install Debian's qemu-user with scripts/install-system-deps.sh)`);
  // qemu warns once per CPUID feature it does not emulate; those lines are noise
  const out = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => !l.includes("TCG doesn't support")).join('\n');
  assert.equal(r.status, 0, `${file} failed under ${QEMU} -cpu ${CPU_MODEL}:\n${out.slice(-4000)}`);
  return out;
}

test('NCHWc depthwise rewrite on an emulated AVX2-only CPU: block 8, same results as the standard Conv', () => {
  const out = runEmulated('test/train/nchwc.test.ts');
  assert.match(out, /NCHWc block size on this CPU: 8/, 'onnxruntime should pick NCHWc block 8 without AVX-512');
  assert.match(out, /# pass 2/);
  assert.match(out, /# fail 0/);
});

test('TSM-MobileNetV2 training step matches the PyTorch fixture on an emulated AVX2-only CPU', () => {
  const out = runEmulated('test/train/fixture-parity.test.ts', 'matches the train_step_clipped fixture');
  assert.match(out, /^ok \d+ - TSM-MobileNetV2 training step matches the train_step_clipped fixture$/m);
  assert.match(out, /# fail 0/);
});
