/**
 * main.py end to end on a small synthetic dataset (frames on disk, the real loaders): `tsm train` flags, training
 * with validation and checkpoints, `--resume` and `--evaluate`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { type PickleValue, extractStateDict, readPth } from '../../src/checkpoint/index.js';
import { formatRunEvent, parseTrainFlags, registerTrain } from '../../src/cli/commands/train.js';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { UsageError } from '../../src/errors.js';
import { type RunEvent, storeName, trainTsn } from '../../src/train/run.js';

let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-run-'));
  await makeSyntheticDataset(join(dir, 'syn'), { classes: ['left', 'right'], clips: 6, size: 32, frames: 8, valFraction: 1 / 3, seed: 3 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("flags parse as main.py's, with the original snake_case and short spellings", () => {
  const o = parseTrainFlags('something', 'RGB', {
    arch: 'resnet50',
    num_segments: '8',
    lr_steps: ['20', '40'],
    gd: '20',
    wd: '1e-4',
    do: '0.8',
    npb: true,
    shift: true,
    shift_div: '8',
    shift_place: 'blockres',
    lr: '0.01',
  });
  assert.equal(o.numSegments, 8);
  assert.deepEqual(o.lrSteps, [20, 40]);
  assert.equal(o.clipGradient, 20);
  assert.equal(o.weightDecay, 1e-4);
  assert.equal(o.dropout, 0.8);
  assert.equal(o.partialBn, false);
  assert.equal(storeName(o, 'something'), 'TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e120');
  assert.throws(() => parseTrainFlags('x', 'Depth', {}), (e: unknown) => e instanceof UsageError && /one of RGB, Flow for <modality>/.test(e.message));
  assert.throws(() => parseTrainFlags('x', 'RGB', { numSegments: '0' }), /--num-segments/);
  assert.equal(parseTrainFlags('x', 'RGB', { clipGradient: 'none' }).clipGradient, null);
  // --online-shift (snake_case too) implies --shift and marks the store name
  const online = parseTrainFlags('jester', 'RGB', { arch: 'mobilenetv2', num_segments: '8', online_shift: true });
  assert.deepEqual([online.shift, online.shiftMode], [true, 'online']);
  assert.equal(storeName(online, 'jester'), 'TSM_jester_RGB_mobilenetv2_shift8_blockres_online_avg_segment8_e120');
  assert.equal(parseTrainFlags('x', 'RGB', { shift: true }).shiftMode, undefined);
});

test('tsm train: trains, validates, writes checkpoints and logs; --resume continues; --evaluate only validates', async (t) => {
  const lines: string[] = [];
  const program = new Command('tsm').exitOverride();
  registerTrain(program, { write: (line) => lines.push(line) });
  await program.parseAsync(
      ['train', join(dir, 'syn'), 'RGB', '--arch', 'resnet18', '--num_segments', '4', '--shift', '--pretrain', 'scratch', '--epochs', '2', '-b', '4', '--lr', '0.01',
        '--eval-freq', '1', '-j', '0', '--input-size', '32', '--root_log', join(dir, 'log'), '--root_model', join(dir, 'ck'), '--threads', '1', '-p', '1'],
      { from: 'user' },
  );
  const name = 'TSM_synthetic_RGB_resnet18_shift8_blockres_avg_segment4_e2_scratch';
  const out = lines.join('');
  t.diagnostic(out.split('\n').filter((l) => /Testing|Best|done/.test(l)).join(' | '));
  assert.match(out, new RegExp(`storing name: ${name}`));
  assert.equal((out.match(/^Epoch: \[\d\]\[\d\]/gm) ?? []).length, 4, 'two epochs of two batches, each printed');
  assert.equal((out.match(/Testing Results/g) ?? []).length, 2);
  const ckpt = join(dir, 'ck', name, 'ckpt.pth.tar');
  assert.ok(existsSync(ckpt) && existsSync(join(dir, 'ck', name, 'ckpt.best.pth.tar')) === /best so far/.test(out));
  assert.match(readFileSync(join(dir, 'log', name, 'log.csv'), 'utf8'), /Epoch: \[1\], lr: 0\.01000\tLoss/);
  const { stateDict, meta } = extractStateDict(await readPth(ckpt));
  assert.equal(meta.epoch, 2);
  assert.equal(meta.arch, 'resnet18');
  assert.deepEqual(meta.categories, ['left', 'right'], 'the class names travel with the weights');
  assert.ok(stateDict.has('module.base_model.layer1.0.conv1.net.weight'));
  const groups = (meta.optimizer as Map<string, PickleValue>).get('param_groups') as Map<string, PickleValue>[];
  assert.deepEqual(groups.map((g) => g.get('name')), ['first_conv_weight', 'first_conv_bias', 'normal_weight', 'normal_bias', 'BN scale/shift', 'custom_ops', 'lr5_weight', 'lr10_bias']);

  const base = { dataset: join(dir, 'syn'), modality: 'RGB', arch: 'resnet18', numSegments: 4, shift: true, pretrain: 'scratch', batchSize: 4, lr: 0.01, evalFreq: 1, workers: 0, inputSize: 32, rootLog: join(dir, 'log'), rootModel: join(dir, 'ck'), threads: 1 } as const;
  const events: RunEvent[] = [];
  const resumed = await trainTsn({ ...base, epochs: 3, suffix: 'resumed', resume: ckpt }, (e) => events.push(e));
  const epochsRun = events.filter((e) => e.status === 'epoch_end').map((e) => (e as { epoch: number }).epoch);
  assert.deepEqual(epochsRun, [2], 'resumes at the saved epoch');
  assert.ok(resumed.checkpoint?.includes('_resumed'));
  const evaluated = await trainTsn({ ...base, epochs: 3, evaluate: true, resume: resumed.checkpoint });
  assert.equal(evaluated.lastPrec1, resumed.lastPrec1, 'evaluating the saved weights gives the last validation result');
  assert.equal(formatRunEvent({ status: 'note', message: 'x' }, 1), '=> x');
});
