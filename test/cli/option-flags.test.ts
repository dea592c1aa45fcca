/**
 * Library errors name API options (`topK`, `numClass: 8`); `tsm` says them as the flags of the command that ran
 * (`--top-k`, `--num-class 8`). The mapping alone on a small commander command, then one mistake made twice: through
 * the library (the message names the option) and through `tsm` (it names the flag).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { Command, Option } from 'commander';
import { encodeNpy } from '../../src/checkpoint/npy.js';
import { aliasOptions, flagMessage, flagOf } from '../../src/cli/option-flags.js';
import { CheckpointError, TsmError, UsageError } from '../../src/errors.js';
import { predict } from '../../src/evaluate/index.js';
import { loadTsnCheckpoint } from '../../src/models/load.js';
import { hostTensor } from '../../src/tensor/index.js';
import { runTsm } from '../helpers/tsm-process.js';

const repo = resolve(import.meta.dirname, '..', '..');
const DEFAULT_PTH = join(repo, 'models', 'default', 'TSM_synthetic_RGB_mobilenetv2_shift8_blockres_avg_segment4_e36.pth');
const dir = mkdtempSync(join(tmpdir(), 'tsm-option-flags-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A command with the kinds of flags the verbs have: valued, boolean, negatable, aliased and hidden. */
function command(): Command {
  const cmd = new Command('verb')
    .option('--top-k <k>', 'classes listed')
    .option('--arch <name>', 'backbone')
    .option('--segments <n>', 'segments')
    .option('--shift', 'shift')
    .option('--no-shift', 'no shift')
    .option('--non-local', 'non-local blocks')
    .option('--online-shift', 'online shift')
    .option('--calibration <path>', 'clips');
  cmd.addOption(new Option('--num-segments <n>').hideHelp());
  return aliasOptions(cmd, { numSegments: '--segments', isShift: '--shift', shiftMode: '--online-shift' });
}

test('a recorded option becomes the flag of its attribute name, or of its alias over a hidden spelling', () => {
  const cmd = command();
  assert.equal(flagOf(cmd, 'topK')?.long, '--top-k');
  assert.equal(flagOf(cmd, 'numSegments')?.long, '--segments');
  assert.equal(flagOf(cmd, 'isShift')?.long, '--shift');
  assert.equal(flagOf(cmd, 'numClass'), undefined);
  assert.equal(flagMessage('expected a positive integer for topK but received 0', ['topK'], cmd), 'expected a positive integer for --top-k but received 0');
  assert.equal(flagMessage('calibration /x/y: no such file or folder', ['calibration'], cmd), '--calibration /x/y: no such file or folder');
  // no flag for it: the option stays
  assert.equal(flagMessage('num_class is 5; pass numClass: 8', ['numClass'], cmd), 'num_class is 5; pass numClass: 8');
  // not recorded: not touched, though the command has the flag
  assert.equal(flagMessage('the arch of topK', [], cmd), 'the arch of topK');
});

test('a value written after the option becomes the flag\'s argument, or picks the flag of a boolean', () => {
  const cmd = command();
  const cases: [string, string[], string][] = [
    ["holds a resnet18; pass arch: 'resnet18'", ['arch'], 'holds a resnet18; pass --arch resnet18'],
    ['num_segments (pass numSegments: T)', ['numSegments'], 'num_segments (pass --segments T)'],
    ['pass numSegments: 8 instead', ['numSegments'], 'pass --segments 8 instead'],
    ['the model shifts; pass isShift: false', ['isShift'], 'the model shifts; pass --no-shift'],
    ['no shift; pass isShift: true', ['isShift'], 'no shift; pass --shift'],
    ['no non-local blocks; pass nonLocal: false', ['nonLocal'], 'no non-local blocks; pass without --non-local'],
    ["pass isShift: true with shiftMode: 'online'", ['isShift', 'shiftMode'], 'pass --shift with --online-shift'],
  ];
  for (const [message, options, expected] of cases) assert.equal(flagMessage(message, options, cmd), expected, message);
});

test('only the first whole-word occurrence is rewritten: not inside words, keys, paths or placeholders', () => {
  const cmd = command();
  assert.equal(flagMessage('topK is 0; topK must be positive', ['topK'], cmd), '--top-k is 0; topK must be positive');
  assert.equal(
    flagMessage('TSM_<arch>_x.pth, base_model.arch, /data/arch/y, topKs, my-arch, arch_1: pass arch', ['arch', 'topK'], cmd),
    'TSM_<arch>_x.pth, base_model.arch, /data/arch/y, topKs, my-arch, arch_1: pass --arch',
  );
});

test('TsmError records the options it is given; UsageError.expected records an option name, not words', () => {
  assert.deepEqual(new TsmError('TSM_X', 'm').options, []);
  assert.deepEqual(new CheckpointError('TSM_CHECKPOINT_SHAPE', 'm', { options: ['numClass'] }).options, ['numClass']);
  assert.deepEqual(UsageError.expected('topK', 'a positive integer', 0).options, ['topK']);
  assert.deepEqual(UsageError.expected('the modality of kinetics', 'one of RGB', 'Depth').options, []);
  assert.deepEqual(UsageError.expected('--top-k', 'a positive integer', '0').options, []);
  const cause = new Error('inner');
  assert.equal(new UsageError('m', { cause }).cause, cause);
  assert.equal(Object.hasOwn(new UsageError('m'), 'cause'), false);
});

test('predict({ topK: 0 }) names topK, not --top-k', async () => {
  await assert.rejects(predict([join(dir, 'clip.mp4')], { weights: DEFAULT_PTH, topK: 0 }), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.equal(e.message, 'expected a positive integer for topK but received 0');
    assert.deepEqual(e.options, ['topK']);
    return true;
  });
});

test('a wrong class count names numClass in the library and --num-class in tsm infer', async () => {
  await assert.rejects(loadTsnCheckpoint(DEFAULT_PTH, { numClass: 5 }), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, /has 8 classes \(classifier weight \[8, \.\.\.\]\) but num_class is 5 \(from the options\); pass numClass: 8$/);
    assert.deepEqual(e.options, ['numClass']);
    return true;
  });

  const clip = join(dir, 'clip.npy');
  writeFileSync(clip, encodeNpy(hostTensor('float32', [1, 12, 64, 64], new Float32Array(12 * 64 * 64))));
  const infer = (...extra: string[]) => runTsm(['infer', '--weights', DEFAULT_PTH, '--input', clip, '--output', join(dir, 'y.npy'), '--threads', '1', ...extra]);
  const [numClass, noShift, arch] = await Promise.all([infer('--num-class', '5'), infer('--no-shift'), infer('--arch', 'resnet18')]);
  assert.equal(numClass.status, 1);
  assert.match(numClass.stderr, /^error TSM_CHECKPOINT_SHAPE: \S+ has 8 classes \(classifier weight \[8, \.\.\.\]\) but num_class is 5 \(from the options\); pass --num-class 8$/m);
  // an alias (isShift is --shift / --no-shift) and a quoted value (arch: 'mobilenetv2')
  assert.match(noShift.stderr, /^error TSM_CHECKPOINT_ARCH: .* but the model has no shift \(from the options\); pass --shift$/m);
  assert.match(arch.stderr, /^error TSM_CHECKPOINT_ARCH: \S+ holds a mobilenetv2 but the model is resnet18 \(from the options\); pass --arch mobilenetv2$/m);
});

