import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JESTER_LABELS } from '../../src/deploy/labels.js';
import { formatDeployMetadata, parseDeployMetadata } from '../../src/deploy/metadata.js';
import { readOnnxMetadata } from '../../src/deploy/onnx-metadata.js';
import { UsageError } from '../../src/errors.js';
import { GraphBuilder, encodeOnnx } from '../../src/graph/index.js';

test('format -> parse round-trips a clip model description', () => {
  const info = {
    kind: 'clip' as const,
    arch: 'resnet50',
    numClasses: 3,
    labels: ['a', 'b', 'c'],
    inputSize: [224, 160] as const,
    scaleSize: 256,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    inputRange: 1 as const,
    segments: 8,
    inputName: 'input',
    outputName: 'logits',
    bufferInputs: [],
    bufferOutputs: [],
    bufferShapes: [],
    dynamicBatch: true,
  };
  assert.deepEqual(parseDeployMetadata(formatDeployMetadata(info)), { ...info, defaultLabels: false });
});

test('missing entries get the online demo defaults; 27 classes get the Jester labels', () => {
  const info = parseDeployMetadata({ num_classes: '27' }, { inputNames: ['frame', 'buffer_0', 'buffer_1'], outputNames: ['logits', 'buffer_out_0', 'buffer_out_1'] });
  assert.equal(info.kind, 'online');
  assert.deepEqual(info.bufferInputs, ['buffer_0', 'buffer_1']);
  assert.deepEqual(info.bufferOutputs, ['buffer_out_0', 'buffer_out_1']);
  assert.equal(info.inputName, 'frame');
  assert.equal(info.outputName, 'logits');
  assert.deepEqual(info.inputSize, [224, 224]);
  assert.equal(info.scaleSize, 256);
  assert.deepEqual(info.labels, JESTER_LABELS);
  assert.equal(info.defaultLabels, true);
  assert.deepEqual(parseDeployMetadata({ num_class: '3' }).labels, ['class 0', 'class 1', 'class 2']);
  // the TSN builder's single-number input size and BNInception's one-element std
  const bn = parseDeployMetadata({ num_class: '2', input_size: '224', input_mean: '[104,117,128]', input_std: '[1]', input_range: '255' });
  assert.deepEqual(bn.std, [1, 1, 1]);
  assert.equal(bn.inputRange, 255);
});

test('malformed metadata is a usage error that names the key', () => {
  assert.throws(() => parseDeployMetadata({ labels: 'not json' }), /"labels" is not JSON/);
  assert.throws(() => parseDeployMetadata({ num_classes: '3', labels: '["a"]' }), /1 labels for 3 classes/);
  assert.throws(() => parseDeployMetadata({}), (e: unknown) => e instanceof UsageError && /neither "num_classes" nor "labels"/.test(e.message));
  assert.throws(() => parseDeployMetadata({ num_classes: '2', input_size: '[0, 3]' }), /"input_size"/);
  assert.throws(() => parseDeployMetadata({ num_classes: '2', tsm_kind: 'video' }), /one of online, clip/);
});

test('readOnnxMetadata reads metadata_props and rejects non-ONNX bytes', () => {
  const g = new GraphBuilder();
  g.output(g.relu(g.input('x', 'float32', [1, 2])), 'y');
  g.setMetadata('labels', '["ä","b"]');
  g.setMetadata('num_classes', '2');
  assert.deepEqual(readOnnxMetadata(encodeOnnx(g.build())), { labels: '["ä","b"]', num_classes: '2' });
  assert.throws(() => readOnnxMetadata(new TextEncoder().encode('<!doctype html><html>')), /not an ONNX model/);
  assert.throws(() => readOnnxMetadata(Uint8Array.from([0x72, 0x10, 0x01])), /runs past the end/);
});
