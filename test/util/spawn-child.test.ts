/**
 * Helper programs die with the process that started them: `tsm extract-frames` killed with SIGKILL (no handler
 * runs) leaves no ffmpeg behind, and neither does a process killed while it decodes a video. Children are found in
 * /proc (Linux), as a user would find them with ps.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { findExecutable } from '../../src/util/spawn-child.js';

const repo = resolve(import.meta.dirname, '..', '..');
const TSM = join(repo, 'bin', 'tsm.js');
const dir = mkdtempSync(join(tmpdir(), 'tsm-spawn-child-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** pid, parent pid, command name, state and start time of a process, from /proc/<pid>/stat. */
interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly state: string;
  readonly start: string;
}

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // NOTE: comm is in parentheses and may hold spaces; the fields after it are space-separated
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return { pid, comm: text.slice(text.indexOf('(') + 1, close), state: rest[0], ppid: Number(rest[1]), start: rest[19] };
}

/** Running processes named `comm` whose parent is `ppid`. */
const childrenOf = (ppid: number, comm: string): ProcStat[] =>
  readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map((n) => procStat(Number(n)))
    .filter((s): s is ProcStat => s !== undefined && s.ppid === ppid && s.comm === comm && s.state !== 'Z');

/** Whether the process seen as `s` still runs (a zombie has ended; a reused pid has another start time). */
const alive = (s: ProcStat): boolean => {
  const now = procStat(s.pid);
  return now !== undefined && now.start === s.start && now.state !== 'Z';
};

/** Starts `args` under node, waits for its ffmpeg children, SIGKILLs node, and returns the children. */
async function killWhileRunning(args: readonly string[]): Promise<{ kids: ProcStat[]; stillAlive: ProcStat[] }> {
  const node: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  node.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = once(node, 'exit');
  let kids: ProcStat[] = [];
  try {
    for (let t = 0; t < 600 && kids.length === 0 && node.exitCode === null; t++) {
      await sleep(100);
      kids = childrenOf(node.pid as number, 'ffmpeg');
    }
    assert.ok(kids.length > 0, `no ffmpeg child appeared (exit ${node.exitCode}): ${stderr}`);
    node.kill('SIGKILL');
    await exited;
    // a killed ffmpeg is gone within milliseconds; allow a few seconds on a loaded machine
    for (let t = 0; t < 50 && kids.some(alive); t++) await sleep(100);
    return { kids, stillAlive: kids.filter(alive) };
  } finally {
    if (node.exitCode === null && node.signalCode === null) node.kill('SIGKILL');
    for (const k of kids) if (alive(k)) process.kill(k.pid, 'SIGKILL');
  }
}

/** A 200 s gray video: cheap to encode, about a minute to extract at 1440 px. */
function longVideo(): string {
  const video = join(dir, 'long.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=gray:s=160x120:r=25:d=200', '-pix_fmt', 'yuv420p', '-y', video]);
  return video;
}

test('SIGKILL of tsm extract-frames kills its ffmpeg children', async () => {
  const video = longVideo();
  const r = await killWhileRunning([TSM, 'extract-frames', video, join(dir, 'frames'), '--height', '1440', '--quality', '31', '--jobs', '1']);
  assert.deepEqual(r.stillAlive.map((k) => k.pid), [], `ffmpeg ${r.stillAlive.map((k) => k.pid).join(', ')} outlived its parent`);
});

test('SIGKILL of a process decoding a video (src/data/video.ts) kills its ffmpeg', async () => {
  const video = join(dir, 'long.mp4');
  // decode one frame, then hold: ffmpeg waits on a full pipe, as when the consumer is busy
  const script = `import { decodeVideoFrames } from ${JSON.stringify(join(repo, 'src', 'data', 'video.ts'))};
for await (const f of decodeVideoFrames(${JSON.stringify(video)}, { shortSide: 1440 })) await new Promise(() => {});`;
  const r = await killWhileRunning(['--import', 'tsx', '--input-type=module', '-e', script]);
  assert.deepEqual(r.stillAlive.map((k) => k.pid), [], `ffmpeg ${r.stillAlive.map((k) => k.pid).join(', ')} outlived its parent`);
});

test('findExecutable: PATH lookup, explicit paths, missing programs', () => {
  assert.match(findExecutable('ffmpeg') ?? '', /\/ffmpeg$/);
  assert.equal(findExecutable('/bin/sh'), '/bin/sh');
  assert.equal(findExecutable('no-such-program-tsm'), undefined);
  assert.equal(findExecutable('./no/such/program'), undefined);
});
