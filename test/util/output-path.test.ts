/**
 * Output paths: checked before a command works (`checkOutputPath`), and a write that still fails names the path
 * and what is wrong with it (`writeFileAtomic` throws a FileWriteError, not a bare EISDIR / ENOTDIR).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileWriteError, UsageError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import { checkOutputPath } from '../../src/util/output-path.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-output-path-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const folder = join(dir, 'folder');
const file = join(dir, 'file');
mkdirSync(folder);
writeFileSync(file, 'x');

test('writeFileAtomic onto a folder, or below a file, throws a FileWriteError naming the path and leaves no temp file', async () => {
  const cases: [string, RegExp][] = [
    [folder, new RegExp(`^cannot write ${folder}: ${folder} is a folder$`)],
    [join(file, 'y.npy'), new RegExp(`^cannot write ${file}/y\\.npy: ${file} is a file, not a folder$`)],
    [join(file, 'sub', 'y.npy'), new RegExp(`^cannot write ${file}/sub/y\\.npy: ${file} is a file, not a folder$`)],
  ];
  for (const [path, re] of cases) {
    await assert.rejects(writeFileAtomic(path, 'data'), (err: unknown) => {
      assert.ok(err instanceof FileWriteError, String(err));
      assert.equal(err.code, 'TSM_WRITE');
      assert.match(err.message, re);
      assert.ok((err.cause as NodeJS.ErrnoException).code, 'keeps the file-system error as its cause');
      return true;
    });
  }
  assert.deepEqual(readdirSync(dir).sort(), ['file', 'folder']);
  assert.deepEqual(readdirSync(folder), []);
});

test('checkOutputPath: right kinds and missing paths pass; a folder for a file, a file for a folder, a file on the way fail', async () => {
  await checkOutputPath(file, { kind: 'file', flag: '--output' });
  await checkOutputPath(join(folder, 'new', 'deeper', 'y.npy'), { kind: 'file', flag: '--output' });
  await checkOutputPath(folder, { kind: 'folder', flag: '--output' });
  await checkOutputPath(join(folder, 'new'), { kind: 'folder', flag: '--output' });
  const bad: [string, 'file' | 'folder', RegExp][] = [
    [folder, 'file', /^--out .*\/folder is a folder; pass the path of the file to write$/],
    [file, 'folder', /^--out .*\/file is a file; pass a folder \(it is created when missing\)$/],
    [join(file, 'a', 'b.onnx'), 'file', /^cannot create --out .*\/file\/a\/b\.onnx: .*\/file is a file, not a folder$/],
    [join(file, 'a'), 'folder', /^cannot create --out .*\/file\/a: .*\/file is a file, not a folder$/],
  ];
  for (const [path, kind, re] of bad) {
    await assert.rejects(checkOutputPath(path, { kind, flag: '--out' }), (err: unknown) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, re);
      return true;
    });
  }
});
