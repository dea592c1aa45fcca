import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultCacheDir } from '../../src/zoo/index.js';

test('$TSM_CACHE wins on every platform', () => {
  for (const platform of ['linux', 'darwin', 'win32'] as const) {
    assert.equal(defaultCacheDir({ env: { TSM_CACHE: '/data/tsm', XDG_CACHE_HOME: '/x' }, platform, home: '/home/a' }), '/data/tsm');
  }
});

test('Linux: $XDG_CACHE_HOME/temporal-shift, else ~/.cache/temporal-shift; a relative XDG path is ignored', () => {
  assert.equal(defaultCacheDir({ env: { XDG_CACHE_HOME: '/var/cache/ann' }, platform: 'linux', home: '/home/ann' }), '/var/cache/ann/temporal-shift');
  assert.equal(defaultCacheDir({ env: {}, platform: 'linux', home: '/home/ann' }), '/home/ann/.cache/temporal-shift');
  assert.equal(defaultCacheDir({ env: { XDG_CACHE_HOME: 'rel/cache' }, platform: 'linux', home: '/home/ann' }), '/home/ann/.cache/temporal-shift');
  assert.equal(defaultCacheDir({ env: { TSM_CACHE: '' }, platform: 'freebsd', home: '/home/ann' }), '/home/ann/.cache/temporal-shift');
});

test('macOS: ~/Library/Caches/temporal-shift', () => {
  assert.equal(defaultCacheDir({ env: { XDG_CACHE_HOME: '/x' }, platform: 'darwin', home: '/Users/ann' }), '/Users/ann/Library/Caches/temporal-shift');
});

test('Windows: %LOCALAPPDATA%\\temporal-shift\\Cache, else under the home folder', () => {
  assert.equal(
    defaultCacheDir({ env: { LOCALAPPDATA: 'C:\\Users\\ann\\AppData\\Local' }, platform: 'win32', home: 'C:\\Users\\ann' }),
    'C:\\Users\\ann\\AppData\\Local\\temporal-shift\\Cache',
  );
  assert.equal(defaultCacheDir({ env: {}, platform: 'win32', home: 'C:\\Users\\ann' }), 'C:\\Users\\ann\\AppData\\Local\\temporal-shift\\Cache');
});

test('defaults to this process: TSM_CACHE from process.env', () => {
  const saved = process.env.TSM_CACHE;
  process.env.TSM_CACHE = '/tmp/tsm-cache-env-test';
  try {
    assert.equal(defaultCacheDir(), '/tmp/tsm-cache-env-test');
  } finally {
    if (saved === undefined) delete process.env.TSM_CACHE;
    else process.env.TSM_CACHE = saved;
  }
});
