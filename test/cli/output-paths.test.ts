/**
 * Every verb that writes checks its output path before it starts working: a folder where a file goes, a file
 * where a folder goes, or a file on the way to the path gives one `error TSM_USAGE` line naming the flag, the path
 * and the problem (exit 2), no stack trace, and nothing written. Run as a user would: `node bin/tsm.js ...`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { UsageError } from '../../src/errors.js';
import { fixtureCase, fixturePath } from '../helpers/fixtures.js';

const repo = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tsm-output-paths-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `node bin/tsm.js ...args` without blocking, so several runs share the wait for tsx and onnxruntime. */
function tsm(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(repo, 'bin', 'tsm.js'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

/** Runs `jobs` at most `n` at a time, results in order. */
async function pool<T>(jobs: readonly (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    for (let i = next++; i < jobs.length; i = next++) out[i] = await jobs[i]();
  }));
  return out;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Paths {
  readonly folder: string;
  readonly file: string;
  readonly weights: string;
  readonly input: string;
  readonly online: string;
}

function setup(name: string): Paths {
  const root = join(dir, name);
  const folder = join(root, 'a-folder');
  const file = join(root, 'a-file');
  mkdirSync(folder, { recursive: true });
  writeFileSync(file, 'not a folder\n');
  const fx = fixtureCase('tsm_mobilenetv2').files as { checkpoint_zip: string; input: string };
  const online = fixturePath((fixtureCase('online_mobilenetv2').files as { state_dict: string }).state_dict);
  return { folder, file, weights: fixturePath(fx.checkpoint_zip), input: fixturePath(fx.input), online };
}

const isFolder = (flag: string, p: string) => new RegExp(`${esc(flag)} ${esc(p)} is a folder; pass the path of the file to write`);
const isFile = (flag: string, p: string) => new RegExp(`${esc(flag)} ${esc(p)} is a file; pass a folder`);
const onTheWay = (flag: string, file: string, p: string) => new RegExp(`cannot create ${esc(flag)} ${esc(p)}: ${esc(file)} is a file, not a folder`);

test('tsm infer, export, predict, extract-frames: a bad output path is one message naming it before any work, exit 2, nothing written', async () => {
  const { folder, file, weights, input } = setup('cli');
  const inFile = join(file, 'out.npy');
  const cases: [string[], RegExp][] = [
    [['infer', '--weights', weights, '--input', input, '--output', folder], isFolder('--output', folder)],
    [['infer', '--weights', weights, '--input', input, '--output', inFile], onTheWay('--output', file, inFile)],
    [['export', '--weights', weights, '--out', folder], isFolder('--out', folder)],
    [['predict', folder, '--weights', weights, '--shard', '0/2', '--output', file], isFile('--output', file)],
    [['extract-frames', folder, file], isFile('<out>', file)],
  ];
  const results = await pool(cases.map(([args]) => () => tsm(args)), cases.length);
  for (const [k, [args, re]] of cases.entries()) {
    const r = results[k];
    const what = `tsm ${args.join(' ')}: exit ${r.status}\n${r.stderr}`;
    assert.equal(r.status, 2, what);
    // one line: the check runs before any note of loading weights or reading input is printed
    assert.equal(r.stderr.trim().split('\n').length, 1, what);
    assert.match(r.stderr, /^error TSM_USAGE: /, what);
    assert.match(r.stderr, re, what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, what);
    assert.equal(r.stdout, '', what);
  }
  assert.deepEqual(readdirSync(folder), []);
  assert.deepEqual(readdirSync(dirname(folder)).sort(), ['a-file', 'a-folder']);
});

test('every verb that writes checks its output paths first (the registered commands, run in process)', async () => {
  const { folder, file, weights, input, online } = setup('verbs');
  const cases: [string[], RegExp][] = [
    [['infer', '--weights', weights, '--input', input, '--output', folder], isFolder('--output', folder)],
    [['infer-online', '--weights', online, '--frames', input, '--output', folder], isFolder('--output', folder)],
    [['export', '--weights', weights, '--out', join(file, 'm.onnx')], onTheWay('--out', file, join(file, 'm.onnx'))],
    [['predict', folder, '--weights', weights, '--output', file], isFile('--output', file)],
    [['test', 'something', '--weights', weights, '--output', file], isFile('--output', file)],
    [['test', 'something', '--weights', weights, '--output', join(folder, 'results'), '--csv-file', folder], isFolder('--csv-file', folder)],
    [['merge-scores', folder, '--output', file], isFile('--output', file)],
    [['merge-scores', folder, '--output', join(folder, 'merged'), '--csv-file', folder], isFolder('--csv-file', folder)],
    [['extract-frames', folder, join(file, 'frames')], onTheWay('<out>', file, join(file, 'frames'))],
    [['make-lists', 'folders', '--frames', folder, '--out', file], isFile('--out', file)],
    [['make-synthetic', join(file, 'syn'), '--clips', '1'], onTheWay('<out>', file, join(file, 'syn'))],
    [['train', 'something', 'RGB', '--root-model', file], isFile('--root-model', file)],
    [['train', 'something', 'RGB', '--root-log', join(file, 'log')], onTheWay('--root-log', file, join(file, 'log'))],
    [['start', '--out', file], isFile('--out', file)],
  ];
  for (const [args, re] of cases) {
    const program = new Command('tsm').exitOverride();
    for (const register of COMMANDS) register(program);
    await assert.rejects(program.parseAsync(args, { from: 'user' }), (err: unknown) => {
      assert.ok(err instanceof UsageError, `tsm ${args.join(' ')}: ${String(err)}`);
      assert.match(err.message, re, `tsm ${args.join(' ')}`);
      return true;
    });
  }
  assert.deepEqual(readdirSync(folder), []);
});
