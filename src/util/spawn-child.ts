/**
 * Spawns helper programs (ffmpeg, ffprobe) so that they die with this process, even when it is killed with
 * SIGKILL and gets no chance to clean up. Node only.
 */
import {
  type ChildProcess,
  type ChildProcessByStdio,
  type SpawnOptions,
  type SpawnOptionsWithStdioTuple,
  type StdioNull,
  type StdioPipe,
  spawn,
} from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';

/** The executable `cmd` names (searched on PATH when it has no slash), or undefined when there is none. */
export function findExecutable(cmd: string): string | undefined {
  const isExec = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return isExec(cmd) ? (isAbsolute(cmd) ? cmd : resolve(cmd)) : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isExec(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

let setpriv: string | null | undefined;

/**
 * util-linux `setpriv`, which can set the parent-death signal (Linux `prctl(PR_SET_PDEATHSIG)`) before it
 * execs the real program; null where there is none (other systems, minimal images).
 */
function setprivPath(): string | null {
  if (setpriv === undefined) setpriv = process.platform === 'linux' ? (findExecutable('setpriv') ?? null) : null;
  return setpriv;
}

const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * `child_process.spawn`, but the child is killed when this process ends. On Linux the child is started through
 * `setpriv --pdeathsig SIGKILL`, so the kernel kills it when the thread that spawned it exits, whatever ended it
 * (SIGKILL included). Elsewhere, or without setpriv, children still running at a normal exit are killed from
 * an exit hook. The child's pid is the program's own (setpriv execs it), so `child.kill()` works as usual; a
 * program that cannot be found is spawned directly, so its `error` event (ENOENT) is unchanged.
 * NOTE: setpriv sets the signal just after the fork; a parent killed within that instant leaves the child running.
 * @example const ff = spawnChild('ffmpeg', ['-i', 'clip.mp4', 'out_%05d.jpg'], { stdio: ['ignore', 'ignore', 'pipe'] });
 */
export function spawnChild(cmd: string, args: readonly string[], options: SpawnOptionsWithStdioTuple<StdioNull, StdioNull, StdioPipe>): ChildProcessByStdio<null, null, Readable>;
export function spawnChild(cmd: string, args: readonly string[], options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>): ChildProcessByStdio<null, Readable, Readable>;
export function spawnChild(cmd: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
export function spawnChild(cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const wrapper = setprivPath();
  const exe = wrapper ? findExecutable(cmd) : undefined;
  const child = wrapper && exe ? spawn(wrapper, ['--pdeathsig', 'SIGKILL', '--', exe, ...args], options) : spawn(cmd, args, options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  return child;
}
