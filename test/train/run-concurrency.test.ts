/**
 * Two `tsm train` processes into one run folder: the second is refused (also with `--resume`) while the first
 * runs, with a message naming the folder and the first one's pid; once the first has ended (here: SIGTERM, which
 * releases its lock), `--resume` continues the run.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { RUN_LOCK } from '../../src/train/run-files.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NAME = 'TSM_synthetic_RGB_resnet18_shift8_blockres_avg_segment4_e50_scratch';

let dir = '';
const children: ChildProcess[] = [];
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-run-concurrency-'));
  await makeSyntheticDataset(join(dir, 'syn'), { classes: ['left', 'right'], clips: 6, size: 32, frames: 8, valFraction: 1 / 3, seed: 3 });
});
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly child: ChildProcess;
  out: string;
  readonly exit: Promise<number | NodeJS.Signals | null>;
}

/** `tsm train` of 50 short epochs into `<dir>/ck` and `<dir>/log`, plus `extra` flags. */
function train(extra: string[] = []): Run {
  const args = ['train', join(dir, 'syn'), 'RGB', '--arch', 'resnet18', '--num_segments', '4', '--shift', '--pretrain', 'scratch', '--epochs', '50', '-b', '4',
    '--lr', '0.01', '--eval-freq', '1', '-j', '0', '--input-size', '32', '--root_log', join(dir, 'log'), '--root_model', join(dir, 'ck'), '--threads', '1', ...extra];
  const child = spawn(process.execPath, [join(repo, 'bin', 'tsm.js'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const run: Run = { child, out: '', exit: new Promise((r) => child.once('exit', (code, signal) => r(signal ?? code))) };
  child.stdout?.on('data', (d: Buffer) => (run.out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (run.out += d.toString()));
  return run;
}

/** The exit of `run`, failing (and killing it) if it takes more than `ms`. */
async function exitWithin(run: Run, ms: number): Promise<number | NodeJS.Signals | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const result = await Promise.race([run.exit, late]);
  clearTimeout(timer);
  if (result === 'late') {
    run.child.kill('SIGKILL');
    assert.fail(`still running after ${ms} ms:\n${run.out}`);
  }
  return result;
}

test('a second `tsm train` into the same run folder is refused while the first runs; --resume works once it has ended', { timeout: 240_000 }, async () => {
  const ckpt = join(dir, 'ck', NAME, 'ckpt.pth.tar');
  const first = train();
  const until = async (what: string, cond: () => boolean): Promise<void> => {
    for (let i = 0; !cond(); i++) {
      if (i > 3000 || first.child.exitCode !== null) assert.fail(`${what}:\n${first.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await until('the first run never started', () => first.out.includes('storing name'));

  // a plain second run and a --resume of the same run, while the first one runs
  const refused = [train(), train(['--resume', ckpt])];
  for (const second of refused) {
    assert.equal(await exitWithin(second, 60_000), 1, second.out);
    assert.match(second.out, new RegExp(`^error TSM_LOCKED: the run folder .*${NAME} is in use by another \`tsm train\` \\(pid ${first.child.pid},`));
    assert.doesNotMatch(second.out, /\n\s+at /, 'no stack trace');
  }
  assert.equal(first.child.exitCode, null, 'the first run goes on');

  await until('the first run saved no checkpoint', () => existsSync(ckpt));
  assert.equal(readFileSync(join(dir, 'log', NAME, 'log.csv'), 'utf8').match(/^Epoch: \[0\], lr/gm)?.length, 1, 'one run writes the log');
  first.child.kill('SIGTERM');
  assert.equal(await exitWithin(first, 30_000), 'SIGTERM');
  for (const sub of ['ck', 'log']) assert.ok(!readdirSync(join(dir, sub, NAME)).includes(RUN_LOCK), `${sub}: the lock is released on SIGTERM`);

  // --start-epoch 50 of 50: the resumed run takes the folders, trains nothing more and ends
  const resumed = train(['--resume', ckpt, '--start-epoch', '50']);
  assert.equal(await exitWithin(resumed, 120_000), 0, resumed.out);
  assert.match(resumed.out, /loaded checkpoint/);
  for (const sub of ['ck', 'log']) assert.ok(!readdirSync(join(dir, sub, NAME)).includes(RUN_LOCK));
});
