/**
 * A run's checkpoint files under kills: a child process saves checkpoints as `tsm train` does and is SIGKILLed in
 * the middle of writing one of them (test/helpers/kill-during-write.ts). Whatever the moment, `ckpt.best.pth.tar`
 * is a whole checkpoint, and `ckpt.pth.tar` never records a best accuracy that `ckpt.best.pth.tar` does not hold
 * (a resumed run would then never rewrite the best file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { extractStateDict, readPth } from '../../src/checkpoint/index.js';
import { LockError } from '../../src/errors.js';
import { CHECKPOINT_FILES, RUN_LOCK, lockRunFolders } from '../../src/train/run-files.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = (p: string): string => pathToFileURL(join(repo, 'src', p)).href;

let dir = '';
let child = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-run-files-'));
  child = join(dir, 'save.mts');
  // 4 MB of weights, so a half-written file is clearly not a whole one.
  writeFileSync(
    child,
    `import { pyFloat } from '${src('checkpoint/index.js')}';
import { hostTensor } from '${src('tensor/index.js')}';
import { saveRunCheckpoint } from '${src('train/run-files.js')}';
const [dir, epoch, best, isBest] = process.argv.slice(2);
const weight = hostTensor('float32', [1024, 1024], new Float32Array(1 << 20).fill(Number(epoch)));
const meta = { epoch: Number(epoch), arch: 'resnet18', best_prec1: pyFloat(Number(best)) };
await saveRunCheckpoint(dir, { stateDict: new Map([['module.new_fc.weight', weight]]), meta }, isBest === 'best');
`,
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child: saves epoch `epoch` with best accuracy `best`; `killOn` names the file whose write is killed. */
function save(runDir: string, epoch: number, best: number, isBest: boolean, killOn?: string): ReturnType<typeof spawnSync> {
  const preload = pathToFileURL(join(repo, 'test', 'helpers', 'kill-during-write.ts')).href;
  const env = { ...process.env, TSM_TEST_KILL_DURING_WRITE: killOn ?? '' };
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', preload, child, runDir, String(epoch), String(best), isBest ? 'best' : 'no'], {
    cwd: repo,
    env,
    encoding: 'utf8',
  });
  if (!killOn) assert.equal(r.status, 0, String(r.stderr));
  return r;
}

/** `best_prec1` and `epoch` of a checkpoint; throws when it is not a whole checkpoint. */
async function readMeta(path: string): Promise<{ epoch: number; best: number }> {
  const { meta } = extractStateDict(await readPth(path));
  return { epoch: Number(meta.epoch), best: Number(meta.best_prec1) };
}

/** The invariant after any kill: the best file is whole, and holds the best accuracy the last checkpoint records. */
async function assertConsistent(runDir: string): Promise<{ last: { epoch: number; best: number }; best: { epoch: number; best: number } }> {
  const best = await readMeta(join(runDir, CHECKPOINT_FILES.best)).catch((e: unknown) => assert.fail(`${CHECKPOINT_FILES.best} is not a whole checkpoint: ${String(e)}`));
  const last = await readMeta(join(runDir, CHECKPOINT_FILES.last));
  assert.ok(best.best >= last.best, `ckpt.pth.tar records best ${last.best} but ckpt.best.pth.tar holds ${best.best}: a resumed run would never rewrite it`);
  return { last, best };
}

test('a kill while the best checkpoint is written leaves the previous whole ckpt.best.pth.tar', async () => {
  const runDir = join(dir, 'kill-best');
  save(runDir, 1, 40, true);
  const r = save(runDir, 2, 60, true, CHECKPOINT_FILES.best);
  assert.equal(r.signal, 'SIGKILL', 'the save was killed mid-write');
  const { last, best } = await assertConsistent(runDir);
  assert.deepEqual([last, best], [{ epoch: 1, best: 40 }, { epoch: 1, best: 40 }]);
  // the resumed run saves epoch 2 again, completely
  save(runDir, 2, 60, true);
  assert.deepEqual(await assertConsistent(runDir), { last: { epoch: 2, best: 60 }, best: { epoch: 2, best: 60 } });
  assert.deepEqual(readdirSync(runDir).sort(), [CHECKPOINT_FILES.best, CHECKPOINT_FILES.last], 'the killed write left no temporary file behind');
});

test('a kill while ckpt.pth.tar is written after a new best keeps the two files consistent', async () => {
  const runDir = join(dir, 'kill-last');
  save(runDir, 1, 40, true);
  const r = save(runDir, 2, 60, true, CHECKPOINT_FILES.last);
  assert.equal(r.signal, 'SIGKILL');
  const { last } = await assertConsistent(runDir);
  assert.deepEqual(last, { epoch: 1, best: 40 }, 'ckpt.pth.tar is the previous one, so a resume repeats epoch 2');
});

test('the first best checkpoint killed mid-write leaves no ckpt.best.pth.tar at all, not a partial one', async () => {
  const runDir = join(dir, 'kill-first');
  const r = save(runDir, 1, 40, true, CHECKPOINT_FILES.best);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(existsSync(join(runDir, CHECKPOINT_FILES.best)), false);
  assert.equal(existsSync(join(runDir, CHECKPOINT_FILES.last)), false, 'nor a ckpt.pth.tar claiming a best');
});

test('the temporary file a killed save leaves is deleted by the next save into the folder', () => {
  const runDir = join(dir, 'leftover');
  save(runDir, 1, 40, false, CHECKPOINT_FILES.last);
  const left = readdirSync(runDir);
  assert.equal(left.length, 1, `one file left by the kill: ${left.join(', ')}`);
  assert.match(left[0], /^\.ckpt\.pth\.tar\..+\.tmp$/, 'a temporary file, never ckpt.pth.tar itself');
  save(runDir, 1, 40, false);
  assert.deepEqual(readdirSync(runDir), [CHECKPOINT_FILES.last]);
});

test('lockRunFolders: a second lock on a run folder is refused naming the folder and pid; release frees it and removes folders left empty', async () => {
  const model = join(dir, 'locks', 'ck', 'RUN');
  const log = join(dir, 'locks', 'log', 'RUN');
  const held = await lockRunFolders([model, log]);
  assert.ok(existsSync(join(model, RUN_LOCK)) && existsSync(join(log, RUN_LOCK)));
  await assert.rejects(lockRunFolders([join(dir, 'locks', 'other'), log]), (e: unknown) => {
    assert.ok(e instanceof LockError);
    assert.match(e.message, new RegExp(`^the run folder ${log.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another \`tsm train\` \\(pid ${process.pid},`));
    return true;
  });
  assert.equal(existsSync(join(dir, 'locks', 'other')), false, 'the refused call left no folder behind');
  writeFileSync(join(log, 'log.csv'), 'Epoch: [0]\n');
  await held.release();
  assert.deepEqual([existsSync(model), existsSync(join(dir, 'locks', 'ck')), readdirSync(log)], [false, false, ['log.csv']]);
  await (await lockRunFolders([model, log])).release();
});
