import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { JESTER_LABELS } from '../../src/deploy/labels.js';
import { ZOO, ZOO_DATASETS, type ZooDataset, datasetLabels, parseLabelList, zooLabels } from '../../src/zoo/index.js';

test('every zoo dataset has its class names, one per class, all different', () => {
  for (const d of Object.keys(ZOO_DATASETS) as ZooDataset[]) {
    const labels = zooLabels(d);
    assert.equal(labels.length, ZOO_DATASETS[d].numClass, d);
    assert.equal(new Set(labels).size, labels.length, `${d}: duplicate names`);
    assert.ok(labels.every((l) => l.trim() === l && l !== ''), d);
  }
  for (const e of ZOO) assert.equal(zooLabels(e.dataset).length, e.numClass, e.name);
});

test('the lists are the class orders the released checkpoints were trained with', () => {
  const k400 = zooLabels('kinetics');
  // kinetics_label_map.txt: alphabetical, with the names as the map file spells them
  assert.deepEqual([k400[0], k400[1], k400[208], k400[399]], ['abseiling', 'air drumming', 'passing American football (in game)', 'zumba']);
  // gen_label_sthv1.py sorts the V1 names with Python's sorted(); V2's json indices give the same order
  const sth = zooLabels('something');
  assert.deepEqual(sth, zooLabels('somethingv2'));
  assert.deepEqual([sth[0], sth[102], sth[173]], ['Approaching something with your camera', 'Putting number of something onto something', 'Wiping something off of something']);
  assert.deepEqual([...sth].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), [...sth], 'code-point order, as Python sorts str');
  assert.deepEqual(zooLabels('jester'), JESTER_LABELS);
});

test('each label file cites its source in its header, and parseLabelList skips it', () => {
  for (const f of ['kinetics-400.txt', 'something-something.txt']) {
    const text = readFileSync(new URL(`../../src/zoo/labels/${f}`, import.meta.url), 'utf8');
    assert.match(text.split('\n')[1] ?? '', /^# Source|^# V1: .*mit-han-lab\/temporal-shift-module/);
    assert.ok(!parseLabelList(text).some((l) => l.startsWith('#')));
  }
  assert.deepEqual(parseLabelList('# header\n\na \r\nb\n\n'), ['a', 'b']);
});

test('datasetLabels gives a dataset\'s names only for its class count', () => {
  assert.equal(datasetLabels('kinetics', 400), zooLabels('kinetics'));
  assert.equal(datasetLabels('kinetics', 10), undefined);
  assert.equal(datasetLabels('synthetic', 8), undefined);
  assert.equal(datasetLabels('toString', 8), undefined);
  assert.equal(datasetLabels(undefined, 400), undefined);
});
