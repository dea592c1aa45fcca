/**
 * `--resume` is bit-exact: N epochs in one run and N/2 epochs, then `--resume` for the other N/2, give the same
 * per-step losses, validation results, weights and momentum buffers (exact equality). The uninterrupted run goes
 * through the CLI with `--online-shift` and a progress bar on a (fake) terminal, so the same run also checks the
 * bar, the log folder (log.jsonl, curves.html, curves.png) and how an online-shift checkpoint is marked.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import sharp from 'sharp';
import { type PickleValue, extractStateDict, readPth, stripPrefix } from '../../src/checkpoint/index.js';
import { registerTrain } from '../../src/cli/commands/train.js';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { parseCheckpointName } from '../../src/models/config.js';
import { resolveTsnConfig } from '../../src/models/load.js';
import type { HostTensor } from '../../src/tensor/index.js';
import { type LogRecord, type TrainRunOptions, trainTsn } from '../../src/train/index.js';

let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-resume-'));
  await makeSyntheticDataset(join(dir, 'syn'), { classes: ['left', 'right'], clips: 6, size: 32, frames: 8, valFraction: 1 / 3, seed: 5 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const NAME = 'TSM_synthetic_RGB_resnet18_shift8_blockres_online_avg_segment4_e4_scratch';

const readJsonl = (path: string): LogRecord[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogRecord);

/** The values a run must repeat: everything but wall time. */
const replayed = (records: readonly LogRecord[]) =>
  records.map((r) => (r.type === 'val' ? { type: r.type, epoch: r.epoch, loss: r.loss, top1: r.top1 } : { type: r.type, epoch: r.epoch, loss: r.loss, top1: r.top1, lr: r.lr, ...(r.type === 'step' ? { gradNorm: r.gradNorm } : {}) }));

/** A terminal-like stream that records what is drawn. */
function fakeTerminal(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  Object.assign(stream, { isTTY: true, columns: 160 });
  // NOTE: strip cursor movement and colour escapes to read the drawn text
  return { stream, text: () => chunks.join('').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') };
}

async function checkpointTensors(path: string): Promise<{ weights: Map<string, HostTensor>; buffers: Map<string, HostTensor>; meta: Record<string, unknown> }> {
  const { stateDict, meta } = extractStateDict(await readPth(path));
  const state = (meta.optimizer as Map<string, PickleValue>).get('state') as Map<number, Map<string, PickleValue>>;
  const buffers = new Map([...state].map(([k, v]) => [String(k), v.get('momentum_buffer') as HostTensor]));
  return { weights: stateDict, buffers, meta };
}

function assertSameTensors(a: Map<string, HostTensor>, b: Map<string, HostTensor>, what: string): void {
  assert.deepEqual([...a.keys()], [...b.keys()], `${what}: keys`);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.deepEqual(u.shape, t.shape, `${what} ${k}: shape`);
    assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)), `${what} ${k}: bytes differ`);
  }
}

test('4 epochs in one run equal 2 epochs + --resume for 2 more, bit for bit (losses, validation, weights, momentum)', async (t) => {
  const term = fakeTerminal();
  const lines: string[] = [];
  const program = new Command('tsm').exitOverride();
  registerTrain(program, { write: (line) => lines.push(line), progress: term.stream });
  // dropout 0.5 (main.py's default) and an lr drop at epoch 3, after the resume point
  const flags = ['--arch', 'resnet18', '--num_segments', '4', '--online_shift', '--pretrain', 'scratch', '-b', '2', '--lr', '0.02', '--lr-steps', '3', '--eval-freq', '1', '-j', '0', '--input-size', '32', '--threads', '1', '--seed', '7'];
  await program.parseAsync(['train', join(dir, 'syn'), 'RGB', ...flags, '--epochs', '4', '--root-log', join(dir, 'a', 'log'), '--root-model', join(dir, 'a', 'ck')], { from: 'user' });

  const opts: TrainRunOptions = {
    dataset: join(dir, 'syn'), modality: 'RGB', arch: 'resnet18', numSegments: 4, shift: true, shiftMode: 'online', pretrain: 'scratch', batchSize: 2, lr: 0.02, lrSteps: [3], evalFreq: 1,
    workers: 0, inputSize: 32, threads: 1, seed: 7, rootLog: join(dir, 'b', 'log'), rootModel: join(dir, 'b', 'ck'),
  };
  const half = await trainTsn({ ...opts, epochs: 2 });
  assert.ok(half.checkpoint?.endsWith(join(NAME.replace('_e4_', '_e2_'), 'ckpt.pth.tar')));
  const resumed = await trainTsn({ ...opts, epochs: 4, resume: half.checkpoint });

  const full = readJsonl(join(dir, 'a', 'log', NAME, 'log.jsonl'));
  const first = readJsonl(join(dir, 'b', 'log', NAME.replace('_e4_', '_e2_'), 'log.jsonl'));
  const second = readJsonl(join(dir, 'b', 'log', NAME, 'log.jsonl'));
  assert.equal(full.filter((r) => r.type === 'step').length, 16, 'four epochs of four batches');
  assert.deepEqual([...new Set(full.map((r) => r.epoch))], [0, 1, 2, 3]);
  assert.deepEqual([...new Set(second.map((r) => r.epoch))], [2, 3], 'the resumed run starts at the saved epoch');
  assert.deepEqual(replayed(first).concat(replayed(second)), replayed(full));
  t.diagnostic(`step losses: ${full.filter((r) => r.type === 'step').map((r) => r.loss.toFixed(4)).join(' ')}`);

  const a = await checkpointTensors(join(dir, 'a', 'ck', NAME, 'ckpt.pth.tar'));
  const b = await checkpointTensors(resumed.checkpoint!);
  assertSameTensors(a.weights, b.weights, 'weights');
  assertSameTensors(a.buffers, b.buffers, 'momentum buffers');
  assert.equal(a.meta.epoch, 4);
  assert.equal(resumed.lastPrec1, full.filter((r) => r.type === 'val').at(-1)?.top1);

  // an online-shift checkpoint says so in its name and its `shift_mode` entry; loaders read either
  assert.equal(a.meta.shift_mode, 'online');
  assert.equal(parseCheckpointName(`${NAME}.pth`).shiftMode, 'online');
  const byName = resolveTsnConfig({ path: `${NAME}.pth`, stateDict: stripPrefix(a.weights, 'module.') });
  const byMeta = resolveTsnConfig({ path: join(dir, 'a', 'ck', NAME, 'ckpt.pth.tar'), meta: a.meta as never, stateDict: stripPrefix(a.weights, 'module.'), overrides: { arch: 'resnet18', numClass: 2, numSegments: 4 } });
  assert.deepEqual([byName.options.shiftMode, byMeta.options.shiftMode, byMeta.sources.shiftMode], ['online', 'online', 'checkpoint']);

  // the bar replaced the per-step lines on the terminal
  const out = lines.join('');
  assert.doesNotMatch(out, /^Epoch: \[\d\]\[\d\]/m);
  assert.equal((out.match(/^Epoch: \[\d\] done/gm) ?? []).length, 4);
  const drawn = term.text();
  const lastEpoch = full.filter((r): r is Extract<LogRecord, { type: 'epoch' }> => r.type === 'epoch').at(-1)!;
  assert.match(drawn, /Epoch 4\/4 \[[^\]]+\] 4\/4 \| loss \d+\.\d{4} \| top1 \d+\.\d% \| [\d.]+ clips\/s \| ETA/);
  assert.ok(drawn.includes(`loss ${lastEpoch.loss.toFixed(4)}`), `the bar's last state shows the epoch's mean loss ${lastEpoch.loss.toFixed(4)}`);

  // the log folder: log.csv (main.py's lines), log.jsonl, and curves redrawn after each epoch
  const logDir = join(dir, 'a', 'log', NAME);
  assert.match(readFileSync(join(logDir, 'log.csv'), 'utf8'), /Epoch: \[3\], lr: 0\.00200\tLoss/);
  const html = readFileSync(join(logDir, 'curves.html'), 'utf8');
  assert.ok(!/(src|href)=/.test(html), 'no external assets');
  assert.match(html, /<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  for (const r of full) {
    if (r.type === 'epoch') assert.ok(html.includes(`<td>${r.epoch}</td><td>${r.lr.toFixed(5)}</td><td>${r.loss.toFixed(4)}</td><td>${r.top1.toFixed(3)}</td>`), `epoch ${r.epoch} row`);
    if (r.type === 'val') assert.ok(html.includes(`<td>${r.loss.toFixed(4)}</td><td>${r.top1.toFixed(3)}</td>`), `validation ${r.epoch} cells`);
  }
  const embedded = JSON.parse(/<script type="application\/json" id="epochs">(.*)<\/script>/.exec(html)![1]) as { epoch: number; loss: number }[];
  assert.deepEqual(embedded.map((e) => e.loss), full.filter((r) => r.type === 'epoch').map((r) => r.loss));
  const png = await sharp(join(logDir, 'curves.png')).metadata();
  assert.deepEqual([png.format, png.width, png.height], ['png', 960, 360]);
  assert.ok(!existsSync(join(logDir, 'curves.png.tmp')), 'no temporary file left');
});
