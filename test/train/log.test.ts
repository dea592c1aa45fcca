import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { LOG_FILES, type LogRecord, TrainLog, curvesSvg, niceTicks } from '../../src/train/log.js';
import { tempPathFor } from '../../src/util/atomic-write.js';

const epoch = (e: number, loss: number, top1: number): LogRecord => ({ type: 'epoch', epoch: e, lr: 0.01, loss, top1, top5: 100, batches: 2, samples: 8, ms: 2000 });

test('TrainLog: appends log.jsonl, redraws curves.html / curves.png; a resumed log keeps earlier epochs only', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-log-'));
  try {
    const log = new TrainLog(dir);
    log.csv('Epoch: [0], lr: 0.01000');
    for (let e = 0; e < 3; e++) {
      log.record({ type: 'step', epoch: e, iter: 0, loss: 2 - e, top1: 50, top5: 100, gradNorm: 1, lr: 0.01, samples: 4, ms: 10 });
      log.record(epoch(e, 2.5 - e * 0.5, 40 + e * 10));
      log.record({ type: 'val', epoch: e, loss: 3 - e * 0.5, top1: 30 + e * 10, top5: 90 });
    }
    await log.renderCurves();
    const lines = readFileSync(join(dir, LOG_FILES.jsonl), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogRecord & { time: string });
    assert.equal(lines.length, 9);
    assert.deepEqual(lines.filter((r) => r.type === 'epoch').map((r) => r.loss), [2.5, 2, 1.5]);
    assert.ok(lines.every((r) => !Number.isNaN(Date.parse(r.time))));
    assert.equal(readFileSync(join(dir, LOG_FILES.csv), 'utf8'), 'Epoch: [0], lr: 0.01000\n');
    const html = readFileSync(join(dir, LOG_FILES.html), 'utf8');
    assert.ok(html.includes('<td>2</td><td>0.01000</td><td>1.5000</td><td>60.000</td><td>100.000</td><td>2.0000</td><td>50.000</td><td>90.000</td><td>4.0</td>'));
    const meta = await sharp(join(dir, LOG_FILES.png)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 960, 360]);
    const { data } = await sharp(join(dir, LOG_FILES.png)).raw().toBuffer({ resolveWithObject: true });
    assert.ok(new Set(data).size > 8, 'the PNG has drawn content, not a blank canvas');

    // resuming at epoch 2: epochs 0 and 1 are history; the interrupted run's epoch 2 is left out and redone
    const resumed = new TrainLog(dir, { startEpoch: 2 });
    assert.deepEqual([...new Set(resumed.records.map((r) => r.epoch))], [0, 1]);
    resumed.record(epoch(2, 0.25, 90));
    await resumed.renderCurves();
    const html2 = readFileSync(join(dir, LOG_FILES.html), 'utf8');
    assert.ok(html2.includes('<td>0.2500</td>') && !html2.includes('<td>1.5000</td>'));
    assert.equal(readFileSync(join(dir, LOG_FILES.jsonl), 'utf8').trim().split('\n').length, 10, 'log.jsonl itself is append-only');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('curves: one polyline per drawn series, a point per epoch, titles escaped; ticks are round', () => {
  const svg = curvesSvg([epoch(0, 2, 10), epoch(1, 1, 20), { type: 'val', epoch: 1, loss: 1.5, top1: 15, top5: 50 }], { title: 'a<b' });
  assert.equal((svg.match(/<polyline /g) ?? []).length, 4, 'train and validation, loss and top-1');
  assert.ok(svg.includes('a&lt;b') && !svg.includes('a<b'));
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.3, 4.1, 4), [1, 2, 3, 4]);
  assert.deepEqual(niceTicks(5, 5), [5]);
});

test('TrainLog: a redraw writes through temporary files and deletes the ones a killed redraw left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-log-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const left = basename(tempPathFor(join(dir, LOG_FILES.png))).replace(`.${process.pid}.`, `.${dead.stdout}.`);
    writeFileSync(join(dir, left), 'half a png');
    const log = new TrainLog(dir);
    log.record(epoch(0, 2, 50));
    await log.renderCurves();
    assert.deepEqual(readdirSync(dir).sort(), [LOG_FILES.html, LOG_FILES.jsonl, LOG_FILES.png].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
