import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { ZOO, ZOO_DATASETS, describeProtocol, findZooEntry, getZooEntry, type ZooEntry } from '../../src/zoo/index.js';

const get = (name: string): ZooEntry => {
  const e = findZooEntry(name);
  assert.ok(e, `no zoo entry ${name}`);
  return e;
};

test('the zoo lists the README checkpoints once each, with unique names', () => {
  assert.equal(ZOO.length, 14);
  assert.equal(new Set(ZOO.map((e) => e.name)).size, ZOO.length);
  const counts = Object.fromEntries(Object.keys(ZOO_DATASETS).map((d) => [d, ZOO.filter((e) => e.dataset === d).length]));
  assert.deepEqual(counts, { kinetics: 7, something: 3, somethingv2: 3, jester: 1 });
});

test('URLs: the README links (hanlab18 first), then earlier hosts, all ending in the file name', () => {
  for (const e of ZOO) {
    assert.equal(e.urls[0], `https://hanlab18.mit.edu/projects/tsm/models/${e.file}`);
    assert.equal(e.urls.length, 3);
    for (const u of e.urls) {
      assert.match(u, /^https:\/\//);
      assert.ok(u.endsWith(`/${e.file}`), u);
    }
    assert.ok(e.file.startsWith(e.name), e.file);
    assert.equal(e.numClass, ZOO_DATASETS[e.dataset].numClass);
    if (e.config.kind === 'tsn') assert.equal(e.config.numClass, e.numClass, `${e.name}: the models' DATASETS disagree`);
  }
});

test('configs come from the file names', () => {
  const nl = get('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense_nl');
  assert.equal(nl.config.kind, 'tsn');
  assert.ok(nl.config.kind === 'tsn' && nl.config.nonLocal && nl.config.dense && nl.config.isShift);
  const tsn = get('TSM_kinetics_RGB_resnet50_avg_segment5_e50');
  assert.ok(tsn.config.kind === 'tsn' && !tsn.config.isShift && tsn.config.numSegments === 5);
  const uniform = get('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment16_e50').config;
  assert.ok(uniform.kind === 'tsn');
  assert.deepEqual(
    [uniform.shiftDiv, uniform.shiftPlace, uniform.consensusType, uniform.numSegments, uniform.epochs, uniform.dense, uniform.nonLocal, uniform.temporalPool],
    [8, 'blockres', 'avg', 16, 50, false, false, false],
  );
  assert.equal(get('TSM_kinetics_Flow_resnet50_shift8_blockres_avg_segment8_e50').config.modality, 'Flow');
  assert.equal(get('TSM_something_RGB_resnet101_shift8_blockres_avg_segment8_e45').config.arch, 'resnet101');
  assert.equal(get('TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_segment8_e100_dense').config.arch, 'mobilenetv2');
  const online = get('mobilenetv2_jester_online');
  assert.equal(online.config.kind, 'online');
  assert.equal(online.numClass, 27);
  assert.equal(online.file, 'mobilenetv2_jester_online.pth.tar');
});

test('reported accuracies and protocols match the README tables', () => {
  const top1s = (name: string): number[] => get(name).results.map((r) => r.top1);
  assert.deepEqual(top1s('TSM_kinetics_RGB_resnet50_avg_segment5_e50'), [68.8, 69.9, 70.6]);
  assert.deepEqual(top1s('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense'), [74.1]);
  assert.deepEqual(top1s('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense_nl'), [75.6]);
  assert.deepEqual(top1s('TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_segment8_e100_dense'), [69.5]);
  assert.deepEqual(top1s('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50'), [71.2, 72.8]);
  assert.deepEqual(top1s('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment16_e50'), [72.6, 73.7]);
  assert.deepEqual(top1s('TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45'), [45.6, 47.2]);
  assert.deepEqual(top1s('TSM_something_RGB_resnet50_shift8_blockres_avg_segment16_e45'), [47.2, 48.4]);
  assert.deepEqual(top1s('TSM_something_RGB_resnet101_shift8_blockres_avg_segment8_e45'), [46.9, 48.7]);
  assert.deepEqual(top1s('TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment8_e45'), [61.2]);
  assert.deepEqual(top1s('TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment16_e45'), [63.1]);
  assert.deepEqual(top1s('TSM_somethingv2_RGB_resnet101_shift8_blockres_avg_segment8_e45'), [63.3]);
  const flow = get('TSM_kinetics_Flow_resnet50_shift8_blockres_avg_segment8_e50').results[0];
  assert.equal(flow.top1, 55.7);
  assert.equal(flow.top5, 79.5);
  assert.deepEqual(get('mobilenetv2_jester_online').results, []);
  // the test frames of a 16-segment model are 16; the TSN checkpoint (segment5) is tested with 8
  assert.equal(get('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment16_e50').results[0].protocol.segments, 16);
  assert.ok(get('TSM_kinetics_RGB_resnet50_avg_segment5_e50').results.every((r) => r.protocol.segments === 8));
});

test('protocols read as the README test settings', () => {
  const [center, tenCrop, dense] = get('TSM_kinetics_RGB_resnet50_avg_segment5_e50').results.map((r) => r.protocol);
  assert.equal(describeProtocol(center), '8 segments, 1 clip × 1 crop (center crop)');
  assert.equal(center.testArgs, '--test_segments=8 --test_crops=1');
  assert.equal(describeProtocol(tenCrop), '8 segments, 1 clip × 10 crops');
  assert.equal(describeProtocol(dense), '8 segments, dense sampling, 10 clips × 3 crops (full resolution 256)');
  assert.equal(dense.testArgs, '--test_segments=8 --test_crops=3 --dense_sample --full_res');
  const twice = get('TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment16_e45').results[0].protocol;
  assert.equal(describeProtocol(twice), '16 segments, 2 clips (twice sample) × 3 crops (full resolution 256)');
  assert.equal(twice.testArgs, '--test_segments=16 --test_crops=3 --twice_sample');
});

test('lookup takes names with or without .pth and folders; unknown names list the valid ones', () => {
  const name = 'TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50';
  assert.equal(findZooEntry(`${name}.pth`)?.name, name);
  assert.equal(findZooEntry(`pretrained/${name}.pth`)?.name, name);
  assert.equal(findZooEntry('mobilenetv2_jester_online.pth.tar')?.name, 'mobilenetv2_jester_online');
  assert.equal(findZooEntry('nope'), undefined);
  assert.throws(() => getZooEntry('nope'), (e: unknown) => e instanceof UsageError && e.message.includes(name) && /Must be one of/.test(e.message));
});
