/**
 * Calibration runs: the float graph, with the activations to calibrate added as extra outputs, runs on
 * onnxruntime-node over the calibration clips, and every fetched activation feeds its {@link TensorStats}. An
 * online step model steps through each clip's frames with its shift buffers carried over, as in live use, so the
 * buffers' ranges are those of real streams. Node only.
 */
import { InternalError, ShapeError } from '../errors.js';
import type { Graph, Value } from '../graph/index.js';
import { encodeOnnx, isStaticShape } from '../graph/index.js';
import { type Session, createSession } from '../runtime/index.js';
import { type HostTensor, float32, numel } from '../tensor/index.js';
import { TensorStats } from './calibration.js';

/** Options of {@link collectStats}. */
export interface CollectStatsOptions {
  /** The model input each step feeds (`input` for a clip model, `frame` for an online one). */
  readonly inputName: string;
  /** Carried state: graph input -> the graph output it receives at the next step (zeros at a clip's start). */
  readonly state?: Readonly<Record<string, string>>;
  /** onnxruntime threads; 0 lets it decide. @default 0 */
  readonly threads?: number;
  /**
   * Largest total size of the activations fetched by one run, in bytes; more are fetched by running the clip
   * again (a ResNet-50 clip at 224 has gigabytes of them). @default 512 MiB
   */
  readonly maxFetchBytes?: number;
  /** Keep magnitude histograms (for the percentile and entropy methods). @default true */
  readonly histograms?: boolean;
  /** Called after each clip with the number done. */
  readonly onClip?: (done: number) => void;
}

/** One calibration clip: the model inputs of its steps (one for a clip model, one per frame for an online one). */
export type CalibrationClip = readonly HostTensor<'float32'>[];

const bytesOf = (v: Value): number => (isStaticShape(v.shape) ? numel(v.shape) * 4 : 0);

/** Splits the tensors into groups whose fetched size stays under `max` bytes (a lone big tensor is its own group). */
function groupBySize(values: readonly Value[], max: number): Value[][] {
  const groups: Value[][] = [];
  let current: Value[] = [];
  let size = 0;
  for (const v of values) {
    const b = bytesOf(v);
    if (current.length > 0 && size + b > max) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(v);
    size += b;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * Runs `graph` over the clips and gathers the statistics of `tensors` (graph inputs are measured from the
 * feeds). Node only.
 * @throws {ShapeError} when a clip's steps do not have the model input's shape
 * @example
 * const stats = await collectStats(folded, analysis.calibrate, clips, { inputName: 'frame', state });
 */
export async function collectStats(graph: Graph, tensors: readonly string[], clips: AsyncIterable<CalibrationClip>, opts: CollectStatsOptions): Promise<Map<string, TensorStats>> {
  const byName = new Map<string, Value>();
  for (const v of graph.inputs) byName.set(v.name, v);
  for (const n of graph.nodes) for (const o of n.outputs) byName.set(o.name, o);
  const input = graph.inputs.find((v) => v.name === opts.inputName);
  if (!input) throw new InternalError(`graph ${graph.name} has no input "${opts.inputName}"`);
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  const fetched: Value[] = [];
  for (const t of tensors) {
    const v = byName.get(t);
    if (!v) throw new InternalError(`calibration asks for "${t}", which graph ${graph.name} does not compute`);
    if (!inputNames.has(t)) fetched.push(v);
  }
  const outputNames = new Set(graph.outputs.map((o) => o.name));
  const extra = fetched.filter((v) => !outputNames.has(v.name));
  const session = await createSession(encodeOnnx({ ...graph, outputs: [...graph.outputs, ...extra] }), { threads: opts.threads ?? 0, name: `${graph.name} (calibration)` });
  const stats = new Map(tensors.map((t) => [t, new TensorStats(opts.histograms ?? true)]));
  const state = Object.entries(opts.state ?? {});
  const groups = groupBySize(fetched, opts.maxFetchBytes ?? 512 * 2 ** 20);
  const expected = input.shape;
  try {
    let done = 0;
    for await (const clip of clips) {
      let carried: Record<string, HostTensor> = Object.fromEntries(state.map(([i]) => {
        const v = byName.get(i) as Value;
        if (!isStaticShape(v.shape)) throw new InternalError(`state input "${i}" needs a static shape`);
        return [i, float32(v.shape)];
      }));
      for (const step of clip) {
        if (step.shape.length !== expected.length || step.shape.some((d, k) => typeof expected[k] === 'number' && expected[k] !== d)) {
          throw new ShapeError(`a calibration input has shape [${step.shape.join(',')}], the model takes ${opts.inputName} [${expected.map(String).join(',')}]`);
        }
        const feeds = { ...carried, [opts.inputName]: step };
        for (const [name, t] of Object.entries(feeds)) stats.get(name)?.add(t.data as Float32Array);
        let next: Record<string, HostTensor> | undefined;
        for (const [g, group] of groups.entries()) {
          const fetches = group.map((v) => v.name);
          if (g === 0) fetches.push(...state.map(([, o]) => o));
          const out = await run(session, feeds, [...new Set(fetches)]);
          for (const v of group) stats.get(v.name)?.add(out[v.name].data as Float32Array);
          if (g === 0) next = Object.fromEntries(state.map(([i, o]) => [i, out[o]]));
        }
        if (groups.length === 0 && state.length > 0) {
          const out = await run(session, feeds, state.map(([, o]) => o));
          next = Object.fromEntries(state.map(([i, o]) => [i, out[o]]));
        }
        carried = next ?? carried;
      }
      done += 1;
      opts.onClip?.(done);
    }
  } finally {
    await session.release();
  }
  return stats;
}

const run = (session: Session, feeds: Record<string, HostTensor>, fetches: readonly string[]) => session.run(feeds, fetches);
