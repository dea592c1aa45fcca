import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataError } from '../../src/errors.js';
import { checkRecords, framePaths, parseListFile, readListFile } from '../../src/data/list-file.js';
import { formatTemplate, templateToFfmpeg, templateToRegExp } from '../../src/data/template.js';

test('parses TSN list lines, allowing spaces in paths and blank lines', () => {
  const r = parseListFile('a/b 30 2\n\n  c d/e 8 0  \r\n', 'x.txt');
  assert.deepEqual(r, [{ path: 'a/b', numFrames: 30, label: 2, line: 1 }, { path: 'c d/e', numFrames: 8, label: 0, line: 3 }]);
});

test('a malformed line is a DataError naming file and line', () => {
  assert.throws(() => parseListFile('a 3 1\nb 3\n', 'train.txt'), (e: unknown) => e instanceof DataError && /train\.txt:2: expected "path num_frames label"/.test(e.message));
  assert.throws(() => parseListFile('a 3 1\n\nb x 1\n', 'val.txt'), /val\.txt:3: num_frames must be a non-negative integer, got "x"/);
  assert.throws(() => parseListFile('a 3 -1\n', 'l.txt'), /l\.txt:1: label/);
  assert.throws(() => readListFile('/nonexistent/list.txt'), /cannot read list file \/nonexistent\/list\.txt/);
});

test('checkRecords reports missing and too-short frame folders', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-list-'));
  mkdirSync(join(root, 'ok'));
  mkdirSync(join(root, 'short'));
  for (let i = 1; i <= 4; i++) writeFileSync(join(root, 'ok', formatTemplate('img_{:05d}.jpg', i)), '');
  for (let i = 1; i <= 2; i++) writeFileSync(join(root, 'short', formatTemplate('img_{:05d}.jpg', i)), '');
  const records = parseListFile('ok 4 0\nshort 4 1\ngone 4 1\n');
  const problems = checkRecords(records, { rootPath: root });
  assert.deepEqual(problems.map((p) => [p.line, p.kind]), [[2, 'too-short'], [3, 'missing']]);
  assert.match(problems[0].detail, /img_00004\.jpg is missing \(the list says 4 frames; the folder has 2 files\)/);
});

test('templates format like Python str.format and convert for ffmpeg', () => {
  assert.equal(formatTemplate('img_{:05d}.jpg', 7), 'img_00007.jpg');
  assert.equal(formatTemplate('flow_{}_{:05d}.jpg', 'x', 12), 'flow_x_00012.jpg');
  assert.equal(formatTemplate('{:06d}-{}_{:05d}.jpg', 42, 'y', 3), '000042-y_00003.jpg');
  assert.equal(templateToFfmpeg('img_{:05d}.jpg'), 'img_%05d.jpg');
  assert.ok(templateToRegExp('{:06d}.jpg').test('000123.jpg'));
  assert.ok(!templateToRegExp('img_{:05d}.jpg').test('img_00001.png'));
  assert.deepEqual(framePaths('/r', 'v', 'flow_{}_{:05d}.jpg', 'Flow', 3), ['/r/v/flow_x_00003.jpg', '/r/v/flow_y_00003.jpg']);
  assert.deepEqual(framePaths('/r', '42', '{:06d}-{}_{:05d}.jpg', 'Flow', 1), ['/r/000042/000042-x_00001.jpg', '/r/000042/000042-y_00001.jpg']);
});
