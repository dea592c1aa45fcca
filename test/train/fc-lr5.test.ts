/** `tsm train --no-fc-lr5`: the classifier trains at the base lr instead of main.py's x5 / x10 groups. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { parseTrainFlags, registerTrain } from '../../src/cli/commands/train.js';
import { TSN } from '../../src/models/tsn.js';
import { getOptimPolicies } from '../../src/train/index.js';

test('--no-fc-lr5 reaches the run options; without it main.py decides', () => {
  const program = new Command().exitOverride();
  registerTrain(program, { write: () => {} });
  const cmd = program.commands.find((c) => c.name() === 'train')!;
  cmd.parseOptions(['--no-fc-lr5', '--width-mult', '0.5']);
  assert.equal(cmd.opts().fcLr5, false);
  assert.equal(parseTrainFlags('jester', 'RGB', cmd.opts()).fcLr5, false);
  assert.equal(parseTrainFlags('jester', 'RGB', cmd.opts()).widthMult, 0.5);
  assert.equal(parseTrainFlags('jester', 'RGB', { fcLr5: true }).fcLr5, undefined, 'the default leaves it to main.py');
  assert.throws(() => parseTrainFlags('jester', 'RGB', { widthMult: '0' }), /--width-mult/);
});

test('without fc_lr5 the classifier sits in the normal groups', () => {
  const groups = (fcLr5: boolean) =>
    Object.fromEntries(getOptimPolicies(new TSN({ numClass: 4, numSegments: 2, baseModel: 'mobilenetv2', widthMult: 0.5, dropout: 0.5, fcLr5 })).map((g) => [g.name, g.params.length]));
  assert.equal(groups(true).lr5_weight, 1);
  assert.equal(groups(false).lr5_weight, 0);
  assert.equal(groups(false).normal_weight, groups(true).normal_weight + 1);
});
