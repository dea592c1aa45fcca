import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkpointStem, parseCheckpointName } from '../../src/zoo/index.js';

test('parses a TSM name as test_models.py reads it', () => {
  assert.deepEqual(parseCheckpointName('pretrained/TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth'), {
    dataset: 'kinetics',
    modality: 'RGB',
    arch: 'resnet50',
    isShift: true,
    shiftDiv: 8,
    shiftPlace: 'blockres',
    temporalPool: false,
    consensus: 'avg',
    numSegments: 8,
    epochs: 50,
    denseSample: false,
    nonLocal: false,
  });
});

test('TSN (no shift), dense, non-local, Flow, tpool, block place and extra suffixes', () => {
  const tsn = parseCheckpointName('TSM_kinetics_RGB_resnet50_avg_segment5_e50.pth');
  assert.equal(tsn?.isShift, false);
  assert.equal(tsn?.shiftDiv, undefined);
  assert.equal(tsn?.numSegments, 5);
  const nl = parseCheckpointName('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense_nl');
  assert.equal(nl?.denseSample, true);
  assert.equal(nl?.nonLocal, true);
  assert.equal(nl?.epochs, 100);
  assert.equal(parseCheckpointName('TSM_kinetics_Flow_resnet50_shift8_blockres_avg_segment8_e50.pth')?.modality, 'Flow');
  const tp = parseCheckpointName('TSM_something_RGB_resnet50_shift4_block_tpool_avg_segment16_e45_cos_mine.pth.tar');
  assert.equal(tp?.temporalPool, true);
  assert.equal(tp?.shiftPlace, 'block');
  assert.equal(tp?.shiftDiv, 4);
  assert.equal(tp?.numSegments, 16);
  assert.equal(tp?.denseSample, false);
  assert.equal(parseCheckpointName('TSM_somethingv2_RGB_mobilenetv2_shift8_blockres_avg_segment8_e45')?.arch, 'mobilenetv2');
});

test('names outside the pattern give undefined', () => {
  assert.equal(parseCheckpointName('mobilenetv2_jester_online.pth.tar'), undefined);
  assert.equal(parseCheckpointName('resnet50-0676ba61.pth'), undefined);
  assert.equal(parseCheckpointName('TSM_kinetics_RGB_resnet50_avg_e50.pth'), undefined);
});

test('checkpointStem strips folders and the checkpoint extensions', () => {
  assert.equal(checkpointStem('a/b/x.pth'), 'x');
  assert.equal(checkpointStem('C:\\w\\x.pth.tar'), 'x');
  assert.equal(checkpointStem('x.tar'), 'x');
  assert.equal(checkpointStem('x'), 'x');
  assert.equal(checkpointStem('x.onnx'), 'x.onnx');
});
