/**
 * onnxruntime's profiler, summed per op type: the same summary for a trace from onnxruntime-node (the JSON file
 * its profiler writes) and one from onnxruntime-web (the events its wasm build prints). For benches. Node only.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import type { OpenSession } from '../src/teach/index.js';
import { createSession } from '../src/runtime/index.js';
import type { HostTensor } from '../src/tensor/index.js';

/** One event of onnxruntime's profile (Chrome trace format). */
export interface ProfileEvent {
  readonly cat: string;
  readonly name: string;
  /** Microseconds. */
  readonly dur: number;
  readonly args?: { readonly op_name?: string };
}

/** Kernel time of one op type per run. */
export interface OpTime {
  readonly op: string;
  /** Mean over the profiled runs, ms. */
  readonly ms: number;
  /**
   * The sum over this type's nodes of each node's fastest run, ms: what the kernels cost when nothing else took
   * the core, the figure a busy shared machine disturbs least.
   */
  readonly bestMs: number;
  /** Nodes of this type that ran (after onnxruntime's graph optimizations). */
  readonly nodes: number;
}

/** Kernel time per run, per op type. */
export interface OpProfile {
  /** Mean kernel time of a run (the sum over its nodes), ms. */
  readonly kernelMs: number;
  /** The sum over every node of its fastest run, ms (see {@link OpTime.bestMs}). */
  readonly bestKernelMs: number;
  /** Mean `model_run` time (onnxruntime's whole run, kernels and what is between them), ms. */
  readonly runMs: number;
  readonly runs: number;
  /** Slowest first. */
  readonly ops: readonly OpTime[];
}

/**
 * Sums kernel events per op type, per run (`model_run` events close a run), leaving out the first `warmup` runs.
 * @throws {Error} when the trace has no run after the warm-up
 */
export function kernelTimesByOp(events: readonly ProfileEvent[], warmup: number): OpProfile {
  const runs: { kernels: ProfileEvent[]; ms: number }[] = [];
  let cur: ProfileEvent[] = [];
  for (const e of events) {
    if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) cur.push(e);
    else if (e.cat === 'Session' && e.name === 'model_run') {
      runs.push({ kernels: cur, ms: e.dur / 1000 });
      cur = [];
    }
  }
  const kept = runs.slice(warmup);
  if (kept.length === 0) throw new Error(`the profile has ${runs.length} runs, none after ${warmup} warm-up runs`);
  const ms = new Map<string, number>();
  const best = new Map<string, { op: string; ms: number }>();
  for (const r of kept) {
    for (const e of r.kernels) {
      const op = e.args?.op_name ?? '?';
      ms.set(op, (ms.get(op) ?? 0) + e.dur / 1000 / kept.length);
      const b = best.get(e.name);
      if (!b || e.dur / 1000 < b.ms) best.set(e.name, { op, ms: e.dur / 1000 });
    }
  }
  const bestOf = (op: string) => [...best.values()].filter((b) => b.op === op);
  const ops = [...ms]
    .map(([op, t]) => ({ op, ms: t, bestMs: bestOf(op).reduce((a, b) => a + b.ms, 0), nodes: bestOf(op).length }))
    .sort((a, b) => b.bestMs - a.bestMs);
  return {
    kernelMs: ops.reduce((a, o) => a + o.ms, 0),
    bestKernelMs: ops.reduce((a, o) => a + o.bestMs, 0),
    runMs: kept.reduce((a, r) => a + r.ms, 0) / kept.length,
    runs: kept.length,
    ops,
  };
}

/**
 * The events of a profile that onnxruntime's wasm build printed, one JSON object a line (it has no file to write
 * to: the trace goes to stdout, which onnxruntime-web sends to `console.log`).
 */
export function parsePrintedProfile(lines: readonly string[]): ProfileEvent[] {
  return lines.flatMap((l) => l.split('\n')).map((l) => l.trim().replace(/,$/, '')).filter((l) => l.startsWith('{"cat"')).map((l) => JSON.parse(l) as ProfileEvent);
}

/** How an onnxruntime-node session is set up for a comparison. */
export interface NodeSetting {
  /** @default 'all' */
  readonly level?: 'basic' | 'extended' | 'all';
  /** Leaves out onnxruntime's NCHWc layout transformer (blocked depthwise and 3x3 kernels), which the web build lacks. */
  readonly noNchwc?: boolean;
  readonly threads: number;
}

/** Session options of `s` for onnxruntime-node. */
export function nodeSessionOptions(s: NodeSetting): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: s.level ?? 'all',
    ...(s.noNchwc ? { extra: { optimization: { disable_specified_optimizers: 'NchwcTransformer' } } } : {}),
  };
}

/** Opens onnxruntime-node sessions as `s` says. */
export function openNode(s: NodeSetting): OpenSession {
  return async (bytes, name) => {
    const session = await createSession(bytes, { threads: s.threads, name, sessionOptions: nodeSessionOptions(s) });
    return { run: (feeds) => session.run(feeds as Record<string, HostTensor>), release: () => session.release() };
  };
}

/**
 * Opens one onnxruntime-node session as `s` says with the profiler on; `trace()` (after the session is released)
 * reads and deletes the trace file.
 */
export function openNodeProfiled(s: NodeSetting): { open: OpenSession; trace(): ProfileEvent[] } {
  const stem = `tsm-bench-profile-${process.pid}-${Date.now()}`;
  const open: OpenSession = async (bytes, name) => {
    const session = await createSession(bytes, { threads: s.threads, name, sessionOptions: { ...nodeSessionOptions(s), enableProfiling: true, profileFilePrefix: join(tmpdir(), stem) } });
    return { run: (feeds) => session.run(feeds as Record<string, HostTensor>), release: () => session.release() };
  };
  const trace = (): ProfileEvent[] => {
    // NOTE: onnxruntime writes the trace (`<prefix>_<timestamp>.json`) when the session ends
    const found = readdirSync(tmpdir()).filter((f) => f.startsWith(stem) && f.endsWith('.json'));
    if (found.length !== 1) throw new Error(`expected one profile ${stem}_*.json in ${tmpdir()}, found ${found.length}`);
    const file = join(tmpdir(), found[0]);
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
    } finally {
      rmSync(file, { force: true });
    }
  };
  return { open, trace };
}
