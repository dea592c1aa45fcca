import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kineticsClassName, makeLists } from '../../src/data/make-lists.js';
import { DataError, UsageError } from '../../src/errors.js';

function frames(root: string, rel: string, n: number): void {
  mkdirSync(join(root, rel), { recursive: true });
  for (let i = 1; i <= n; i++) writeFileSync(join(root, rel, `img_${String(i).padStart(5, '0')}.jpg`), '');
  writeFileSync(join(root, rel, 'notes.txt'), ''); // not a frame: not counted
}

test('kinetics: CSV rows to class/id folders, labels from the label map, missing ones listed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-k400-'));
  const fr = join(root, 'frames');
  frames(fr, 'air_drumming/abc_000010_000020', 5);
  frames(fr, 'passing_American_football_in_game/xyz_3', 4);
  writeFileSync(join(root, 'map.txt'), 'abseiling\nair drumming\npassing American football (in game)\n');
  writeFileSync(join(root, 'train.csv'), 'label,youtube_id,time_start,time_end,split\nair drumming,abc,10,20,train\n"passing American football (in game)",xyz,3,13,train\n');
  writeFileSync(join(root, 'val.csv'), 'label,youtube_id,time_start,time_end,split\nabseiling,gone,0,10,val\n');
  const r = await makeLists('kinetics', { frames: fr, out: join(root, 'out'), labels: join(root, 'map.txt'), train: join(root, 'train.csv'), val: join(root, 'val.csv') });
  assert.equal(kineticsClassName('passing American football (in game)'), 'passing_American_football_in_game');
  assert.equal(readFileSync(join(root, 'out', 'train_videofolder.txt'), 'utf8'), 'air_drumming/abc_000010_000020 5 1\npassing_American_football_in_game/xyz_3 4 2\n');
  assert.deepEqual(r.missing.val, [join(fr, 'abseiling/gone_000000_000010')]);
  await assert.rejects(
    makeLists('kinetics', { frames: fr, out: join(root, 'o2'), labels: join(root, 'map.txt'), train: join(root, 'val.csv'), val: join(root, 'nope.csv') }),
    (e: unknown) => e instanceof UsageError && /^val .*nope\.csv does not exist/.test(e.message),
  );
});

test('something-v1 / jester CSVs (id;label), sorted categories; unknown class names the line', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-sth1-'));
  frames(root, '100', 3);
  frames(root, '200', 6);
  writeFileSync(join(root, 'labels.csv'), 'Swiping Left\nDoing other things\n');
  writeFileSync(join(root, 'train.csv'), '100;Swiping Left\n');
  writeFileSync(join(root, 'val.csv'), '200;Doing other things\n');
  const r = await makeLists('jester', { frames: root, out: join(root, 'out'), labels: join(root, 'labels.csv'), train: join(root, 'train.csv'), val: join(root, 'val.csv') });
  assert.deepEqual(r.categories, ['Doing other things', 'Swiping Left']);
  assert.deepEqual(r.lists.train, [{ path: '100', numFrames: 3, label: 1 }]);
  writeFileSync(join(root, 'bad.csv'), '100;Swiping Left\n200;Waving\n');
  await assert.rejects(makeLists('jester', { frames: root, out: join(root, 'o'), labels: join(root, 'labels.csv'), train: join(root, 'bad.csv'), val: join(root, 'val.csv') }),
    (e: unknown) => e instanceof DataError && /bad\.csv:2: unknown class "Waving"/.test(e.message));
});

test('ucf101 classInd + split lists, hmdb51 split files', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-ucf-'));
  frames(root, 'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01', 4);
  frames(root, 'Archery/v_Archery_g01_c01', 5);
  writeFileSync(join(root, 'classInd.txt'), '1 ApplyEyeMakeup\n2 Archery\n');
  writeFileSync(join(root, 'trainlist01.txt'), 'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n');
  writeFileSync(join(root, 'testlist01.txt'), 'Archery/v_Archery_g01_c01.avi\n');
  const u = await makeLists('ucf101', { frames: root, out: join(root, 'out'), labels: join(root, 'classInd.txt'), train: join(root, 'trainlist01.txt'), val: join(root, 'testlist01.txt') });
  assert.deepEqual(u.lists.val, [{ path: 'Archery/v_Archery_g01_c01', numFrames: 5, label: 1 }]);

  const h = mkdtempSync(join(tmpdir(), 'tsm-hmdb-'));
  frames(h, 'brush_hair/a', 3);
  frames(h, 'brush_hair/b', 3);
  frames(h, 'cartwheel/c', 4);
  mkdirSync(join(h, 'splits'));
  writeFileSync(join(h, 'splits', 'brush_hair_test_split1.txt'), 'a.avi 1 \nb.avi 2 \n');
  writeFileSync(join(h, 'splits', 'cartwheel_test_split1.txt'), 'c.avi 1 \nd.avi 0 \n');
  const r = await makeLists('hmdb51', { frames: h, out: join(h, 'out'), splitsDir: join(h, 'splits') });
  assert.deepEqual(r.categories, ['brush_hair', 'cartwheel']);
  assert.deepEqual(r.lists.train.map((x) => `${x.path} ${x.label}`), ['brush_hair/a 0', 'cartwheel/c 1']);
  assert.deepEqual(r.lists.val.map((x) => x.path), ['brush_hair/b']);
});
