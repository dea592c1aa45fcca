/**
 * The `tsm` program: `--help` of the program and of every verb says that a flag given twice takes its last value
 * (the original scripts' argparse does the same, so saved command lines keep working), and the verbs do so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { UsageError } from '../../src/errors.js';
import { runTsm } from '../helpers/tsm-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-main-'));
after(() => rmSync(dir, { recursive: true, force: true }));


const LAST_WINS = /\nA flag given twice takes its last value, as in the original scripts \(argparse\): --flag A --flag B means B\.\n$/;

test('tsm --help and a verb\'s --help say that a flag given twice takes its last value', async () => {
  const [top, verb] = await Promise.all([runTsm(['--help']), runTsm(['test', '--help'])]);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /Usage: tsm /);
  assert.match(top.stdout, LAST_WINS);
  assert.equal(verb.status, 0);
  assert.match(verb.stdout, /Usage: tsm test /);
  assert.match(verb.stdout, LAST_WINS);
});

test('a flag given twice takes its last value', async () => {
  const parse = async (args: readonly string[]): Promise<UsageError> => {
    const program = new Command('tsm').exitOverride();
    for (const register of COMMANDS) register(program);
    try {
      await program.parseAsync(args, { from: 'user' });
    } catch (err) {
      assert.ok(err instanceof UsageError, String(err));
      return err;
    }
    assert.fail(`tsm ${args.join(' ')} did not fail`);
  };
  const io = ['--weights', 'w.pth', '--input', 'x.npy', '--output', dir];
  // the last value is checked: "middle" is refused although "block" came first
  assert.match((await parse(['infer', ...io, '--shift-place', 'block', '--shift-place', 'middle'])).message, /for --shift-place but received "middle"/);
  // the first value is dropped: "middle" is never checked, the command goes on to its output path
  assert.match((await parse(['infer', ...io, '--shift-place', 'middle', '--shift-place', 'block'])).message, /--output .* is a folder/);
});
