import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileWriteError } from '../../src/errors.js';
import { STALE_TEMP_MS, copyFileAtomic, tempPathFor, writeFileAtomic } from '../../src/util/atomic-write.js';
import { isProcessAlive } from '../../src/util/file-lock.js';

let dir = '';
before(() => (dir = mkdtempSync(join(tmpdir(), 'tsm-atomic-write-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  assert.equal(isProcessAlive(pid), false);
  return pid;
}

/** Creates `name` in `folder`, `ageMs` old. */
function touch(folder: string, name: string, ageMs = 0): void {
  writeFileSync(join(folder, name), 'partial');
  const t = new Date(Date.now() - ageMs);
  utimesSync(join(folder, name), t, t);
}

test('temporary names carry the writer: .<name>.<pid>.<host>.<random>.tmp, fresh each time', () => {
  const a = tempPathFor(join(dir, 'x.pth'));
  assert.match(basename(a), new RegExp(`^\\.x\\.pth\\.${process.pid}\\.[0-9a-f]{8}\\.[0-9a-f]{8}\\.tmp$`));
  assert.notEqual(a, tempPathFor(join(dir, 'x.pth')));
});

test('a write deletes the temporary files killed writes left in its folder, and nothing else', async () => {
  const folder = join(dir, 'stale');
  await writeFileAtomic(join(folder, 'keep.txt'), 'x');
  const ours = (pid: number, name: string): string => basename(tempPathFor(join(folder, name))).replace(`.${process.pid}.`, `.${pid}.`);
  const deadWriter = ours(deadPid(), 'ckpt.pth.tar');
  const liveWriter = ours(process.pid, 'curves.png'); // a write of this process, in flight
  touch(folder, deadWriter);
  touch(folder, liveWriter);
  touch(folder, '.model.onnx.0123456789ab.tmp'); // an earlier version's name: no pid, judged by age
  touch(folder, '.old.onnx.ba9876543210.tmp', STALE_TEMP_MS + 60_000);
  touch(folder, '.notes.tmp', STALE_TEMP_MS + 60_000); // not our naming
  touch(folder, 'data.tmp', STALE_TEMP_MS + 60_000);
  await writeFileAtomic(join(folder, 'next.txt'), 'y');
  assert.deepEqual(readdirSync(folder).sort(), ['.model.onnx.0123456789ab.tmp', '.notes.tmp', liveWriter, 'data.tmp', 'keep.txt', 'next.txt'].sort());
});

test('copyFileAtomic copies whole; a failed copy leaves neither the file nor a temporary one', async () => {
  const folder = join(dir, 'copy');
  await writeFileAtomic(join(folder, 'a.bin'), new Uint8Array([1, 2, 3]));
  await copyFileAtomic(join(folder, 'a.bin'), join(folder, 'b.bin'));
  assert.deepEqual([...readFileSync(join(folder, 'b.bin'))], [1, 2, 3]);
  await assert.rejects(copyFileAtomic(join(folder, 'missing.bin'), join(folder, 'c.bin')), FileWriteError);
  assert.deepEqual(readdirSync(folder).sort(), ['a.bin', 'b.bin']);
});
