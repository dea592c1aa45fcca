import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDeployMetadata } from '../../src/deploy/metadata.js';
import { OnlineStepper, type OrtLikeSession } from '../../src/deploy/online-stepper.js';
import { ShapeError, UsageError } from '../../src/errors.js';

interface FakeTensor {
  readonly dims: readonly number[];
  data: Float32Array;
  disposed?: boolean;
  dispose(): void;
}

const tensor = (data: Float32Array, dims: readonly number[]): FakeTensor => ({
  dims,
  data,
  dispose() {
    this.disposed = true;
  },
});

/** A session whose logits are [sum(frame), buffer_0[0]] and whose buffer_out_0 is [step count]. */
function fakeSession(): OrtLikeSession<FakeTensor> & { feeds: Record<string, FakeTensor>[]; outs: Record<string, FakeTensor>[] } {
  const feeds: Record<string, FakeTensor>[] = [];
  const outs: Record<string, FakeTensor>[] = [];
  return {
    feeds,
    outs,
    inputNames: ['frame', 'buffer_0'],
    outputNames: ['logits', 'buffer_out_0'],
    run: async (f) => {
      feeds.push(f);
      const sum = f.frame.data.reduce((a, b) => a + b, 0);
      const out = { logits: tensor(Float32Array.of(sum, f.buffer_0.data[0]), [1, 2]), buffer_out_0: tensor(Float32Array.of(f.buffer_0.data[0] + 1), [1, 1, 1, 1]) };
      outs.push(out);
      return out;
    },
  };
}

const INFO = parseDeployMetadata({ num_classes: '2', input_size: '[1,2]', buffer_shapes: '[[1,1,1,1]]' }, { inputNames: ['frame', 'buffer_0'], outputNames: ['logits', 'buffer_out_0'] });

test('the stepper feeds each step\'s buffers to the next, frees the old ones, and resets to zeros', async () => {
  const session = fakeSession();
  const stepper = new OnlineStepper(session, tensor, INFO);
  assert.equal(stepper.frameSize, 6);
  const frame = Float32Array.of(1, 2, 3, 4, 5, 6);
  assert.deepEqual([...(await stepper.step(frame))], [21, 0]);
  assert.deepEqual([...(await stepper.step(frame))], [21, 1]);
  assert.deepEqual([...(await stepper.step(frame))], [21, 2]);
  assert.equal(stepper.steps, 3);
  assert.deepEqual(session.feeds[0].frame.dims, [1, 3, 1, 2]);
  assert.equal(session.feeds[1].buffer_0, session.outs[0].buffer_out_0); // fed back as is, no copy
  assert.ok(session.feeds.every((f) => f.buffer_0.disposed)); // each freed once the next step has it
  assert.ok(session.outs.every((o) => o.logits.disposed)); // logits are copied out, then freed
  assert.equal(session.outs[2].buffer_out_0.disposed, undefined); // still held for the next step
  stepper.reset();
  assert.equal(session.outs[2].buffer_out_0.disposed, true);
  assert.deepEqual([...(await stepper.step(frame))], [21, 0]);
  assert.equal(stepper.steps, 1);
});

test('the stepper rejects a wrong frame size, a clip model, and a session that lacks the named values', async () => {
  const stepper = new OnlineStepper(fakeSession(), tensor, INFO);
  await assert.rejects(stepper.step(new Float32Array(5)), (e: unknown) => e instanceof ShapeError && /5 values, expected 6 \(3x1x2\)/.test(e.message));
  assert.throws(() => new OnlineStepper(fakeSession(), tensor, parseDeployMetadata({ num_classes: '2' })), /this is a clip model/);
  const other = { ...fakeSession(), inputNames: ['image', 'buffer_0'] };
  assert.throws(() => new OnlineStepper(other, tensor, INFO), (e: unknown) => e instanceof UsageError && /lacks input\(s\) \[frame\]/.test(e.message));
  const noShapes = parseDeployMetadata({ num_classes: '2' }, { inputNames: ['frame', 'buffer_0'], outputNames: ['logits', 'buffer_out_0'] });
  assert.throws(() => new OnlineStepper(fakeSession(), tensor, noShapes), /no buffer shapes/);
});
