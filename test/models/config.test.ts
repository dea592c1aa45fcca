import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/errors.js';
import { checkpointStem, parseArch, parseCheckpointName } from '../../src/models/config.js';
import { resolveTsnConfig } from '../../src/models/load.js';
import { float32 } from '../../src/tensor/index.js';

const zoo = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'model-zoo.md'), 'utf8');

/** The rows of the table in docs/model-zoo.md, keyed by column header. */
function zooRows(): Record<string, string>[] {
  const lines = zoo.split('\n').filter((l) => l.startsWith('| '));
  const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
  const header = cells(lines[0]);
  return lines.slice(2).map((l) => Object.fromEntries(cells(l).map((c, i) => [header[i], c])));
}

test('every checkpoint in docs/model-zoo.md parses to the configuration its row states', () => {
  const rows = zooRows();
  assert.equal(rows.length, 13, 'the original README lists 13 TSN/TSM checkpoints');
  const yes = (s: string) => s === 'yes';
  for (const r of rows) {
    const c = parseCheckpointName(`pretrained/${r.checkpoint}`);
    const what = r.checkpoint;
    assert.equal(c.dataset, r.dataset, what);
    assert.equal(c.numClass, Number(r.classes), what);
    assert.equal(c.modality, r.modality, what);
    assert.equal(c.arch, r.arch, what);
    assert.equal(c.isShift, yes(r.shift), what);
    assert.equal(c.shiftDiv, r.shift_div === '-' ? undefined : Number(r.shift_div), what);
    assert.equal(c.shiftPlace, r.place === '-' ? undefined : r.place, what);
    assert.equal(c.temporalPool, yes(r.tpool), what);
    assert.equal(c.consensusType, r.consensus, what);
    assert.equal(c.numSegments, Number(r.segments), what);
    assert.equal(c.epochs, Number(r.epochs), what);
    assert.equal(c.dense, yes(r.dense), what);
    assert.equal(c.nonLocal, yes(r['non-local']), what);
  }
});

test('parseCheckpointName: unreleased names, suffixes, and names that say nothing', () => {
  assert.deepEqual(parseCheckpointName('/x/TSM_jester_RGB_mobilenetv2_shift8_blockres_avg_segment8_e25.pth.tar'), {
    dataset: 'jester', numClass: 27, modality: 'RGB', arch: 'mobilenetv2', isShift: true, shiftDiv: 8, shiftPlace: 'blockres',
    temporalPool: false, consensusType: 'avg', numSegments: 8, epochs: 25, dense: false, nonLocal: false,
  });
  const tp = parseCheckpointName('TSM_kinetics_RGB_resnet50_shift4_block_tpool_avg_segment8_e50_dense_nl.pth');
  assert.deepEqual([tp.shiftDiv, tp.shiftPlace, tp.temporalPool, tp.consensusType, tp.nonLocal], [4, 'block', true, 'avg', true]);
  assert.equal(parseCheckpointName('TSM_hmdb51_Flow_BNInception_identity_segment3_e80.pth').arch, 'BNInception');
  assert.equal(parseCheckpointName('TSM_hmdb51_Flow_BNInception_identity_segment3_e80.pth').consensusType, 'identity');
  assert.equal(parseCheckpointName('TSM_mydata_RGB_resnet18_avg_segment8_e1.pth').numClass, undefined, 'unknown dataset: no class count');
  assert.deepEqual(parseCheckpointName('tsm_resnet50.pth'), {});
  assert.deepEqual(parseCheckpointName('ckpt.best.pth.tar'), {});
  assert.equal(checkpointStem('/a/b/TSM_x.pth.tar'), 'TSM_x');
  assert.throws(() => parseCheckpointName('TSM_kinetics_RGB_resnext101_avg_segment8_e1.pth'), /Unsupported arch: resnext101\. Must be one of \[resnet18, .*BNInception\]/);
  assert.throws(() => parseCheckpointName('TSM_kinetics_RGB_resnet50_shift8_middle_avg_segment8_e1.pth'), /Unsupported shift place: middle\. Must be one of \[blockres, block\] \(checkpoint name TSM_kinetics_RGB_resnet50_shift8_middle_avg_segment8_e1\.pth\)/);
});

test('parseArch accepts the original spellings case-insensitively', () => {
  assert.equal(parseArch('bninception'), 'BNInception');
  assert.equal(parseArch('MobileNet_V2'), 'mobilenetv2');
  assert.equal(parseArch('ResNet50'), 'resnet50');
  assert.throws(() => parseArch('vgg16'), (e: unknown) => e instanceof UsageError && /Must be one of/.test(e.message));
});

test('resolveTsnConfig: options beat the file name, the file name beats the checkpoint, the input decides T', () => {
  const name = 'TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth';
  const r = resolveTsnConfig({ path: name, overrides: { shiftDiv: 4 }, inputChannels: 48 });
  assert.equal(r.options.shiftDiv, 4);
  assert.equal(r.sources.shiftDiv, 'option');
  assert.equal(r.options.numSegments, 16, 'test-time segments come from the input (as --test_segments)');
  assert.equal(r.sources.numSegments, 'input');
  assert.equal(r.options.numClass, 174);
  assert.deepEqual(r.notes, []);
  assert.equal(resolveTsnConfig({ path: name }).options.numSegments, 8);
  assert.equal(resolveTsnConfig({ path: name, overrides: { numSegments: 4 }, inputChannels: 48 }).options.numSegments, 4);
  assert.throws(() => resolveTsnConfig({ path: name, inputChannels: 40 }), /40 channels, not a whole number of segments of 3 channels/);

  // a state dict decides what the name does not
  const sd = new Map([
    ['base_model.conv1.weight', float32([64, 10, 7, 7])],
    ['base_model.layer1.0.conv1.net.weight', float32([64, 64, 1, 1])],
    ['base_model.layer1.0.conv3.weight', float32([256, 64, 1, 1])],
    ['new_fc.weight', float32([12, 2048])],
  ]);
  const s = resolveTsnConfig({ path: 'model_best.pth', stateDict: sd, meta: { arch: 'resnet50' }, overrides: { numSegments: 8 } });
  assert.deepEqual(
    [s.options.baseModel, s.options.numClass, s.options.modality, s.options.newLength, s.options.isShift, s.options.shiftPlace, s.options.shiftDiv],
    ['resnet50', 12, 'Flow', 5, true, 'blockres', 8],
  );
  assert.match(s.notes.join('\n'), /using the original's default 8/);
  assert.throws(() => resolveTsnConfig({ path: 'model_best.pth' }), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    // a library call names the options, not the command line's flags
    assert.match(e.message, /missing the backbone \(pass arch, one of .*num_class \(pass numClass: N.*num_segments \(pass numSegments: T\)/);
    assert.doesNotMatch(e.message, /--/);
    assert.deepEqual(e.options, ['arch', 'numClass', 'numSegments']);
    return true;
  });
});
