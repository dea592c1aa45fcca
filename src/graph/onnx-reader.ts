/**
 * Reads ONNX bytes back into a {@link Graph}: the inverse of the writer for the models we export, so a graph
 * written once (e.g. a shipped `.onnx` whose checkpoint is not at hand) can be transformed again. Output shapes
 * come from our shape rules, so only ops with a rule can be read.
 */
import onnxProto from 'onnx-proto';
import { UsageError } from '../errors.js';
import { type DType, type HostTensor, TYPED_ARRAY_CTORS, hostTensor, numel } from '../tensor/index.js';
import { type Dim, type Shape, sym } from './dims.js';
import type { AttrValue, Attrs, Graph, Node } from './ir.js';
import { Value } from './ir.js';
import { DTYPE_OF_ONNX } from './opset.js';
import { inferOutputs } from './shape-inference.js';

const { onnx } = onnxProto;

const bad = (what: string): UsageError => new UsageError(`cannot read the ONNX model: ${what}`);

function dtypeOf(code: number | null | undefined, where: string): DType {
  const d = DTYPE_OF_ONNX[code ?? 0];
  if (!d) throw bad(`${where} has ONNX element type ${code}, which temporal-shift does not handle`);
  return d;
}

/** A dimension as the writer spells it: a number, `B`, `B*8` or `B/2`. */
function parseDim(d: onnxProto.onnx.TensorShapeProto.IDimension, where: string): Dim {
  if (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam) return Number(d.dimValue);
  const m = /^([A-Za-z_][\w]*)(?:([*/])(\d+(?:\.\d+)?))?$/.exec(d.dimParam ?? '');
  if (!m) throw bad(`${where} has a dimension "${d.dimParam ?? ''}" that is neither a number nor a symbol`);
  const k = m[3] === undefined ? 1 : Number(m[3]);
  return sym(m[1], m[2] === '/' ? 1 / k : k);
}

/** The tensor of a TensorProto: raw little-endian bytes, or the typed repeated fields. */
export function tensorFromProto(t: onnxProto.onnx.ITensorProto): HostTensor {
  const where = `tensor "${t.name ?? ''}"`;
  const dtype = dtypeOf(t.dataType, where);
  const shape = (t.dims ?? []).map(Number);
  const n = numel(shape);
  const Ctor = TYPED_ARRAY_CTORS[dtype];
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length); // aligned, and independent of the decoder's buffer
    copy.set(raw);
    const data = new Ctor(copy.buffer, 0, n);
    if (data.byteLength !== raw.length) throw bad(`${where} has ${raw.length} bytes for ${n} elements of ${dtype}`);
    return hostTensor(dtype, shape, data as never);
  }
  const fields: readonly (ArrayLike<number | bigint | { toString(): string }> | null | undefined)[] = [t.floatData, t.int32Data, t.int64Data, t.doubleData];
  const src = fields.find((f) => f && f.length > 0) ?? [];
  if (src.length !== n) throw bad(`${where} has ${src.length} values for shape [${shape.join(',')}]`);
  const data = new Ctor(n);
  for (let i = 0; i < n; i++) {
    const v = src[i];
    (data as unknown as Record<number, number | bigint>)[i] = dtype === 'int64' ? BigInt(String(v)) : Number(v);
  }
  return hostTensor(dtype, shape, data as never);
}

function attrValue(a: onnxProto.onnx.IAttributeProto, where: string): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT:
      return { i: Number(a.i) };
    case T.INTS:
      return { ints: (a.ints ?? []).map(Number) };
    case T.FLOAT:
      return { f: a.f ?? 0 };
    case T.FLOATS:
      return { floats: [...(a.floats ?? [])] };
    case T.STRING:
      return { s: new TextDecoder().decode(a.s ?? new Uint8Array()) };
    case T.TENSOR:
      return { t: tensorFromProto(a.t ?? {}) };
    default:
      throw bad(`attribute "${a.name}" of ${where} has a type (${a.type}) temporal-shift does not handle`);
  }
}

/**
 * Decodes ONNX bytes into a graph. Initializers become constant values, nodes keep their names, attributes and
 * order, and the metadata is kept; the default-domain opset is read from the model.
 * @throws {UsageError} when the bytes are not an ONNX model, or use an op or type temporal-shift cannot infer
 * @example
 * const graph = decodeGraph(readFileSync('online.onnx'));
 * graph.nodes.filter((n) => n.op === 'Conv').length;
 */
export function decodeGraph(bytes: Uint8Array): Graph {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new UsageError(`not an ONNX model: ${(cause as Error).message}`, { cause });
  }
  const g = model.graph;
  if (!g) throw bad('it has no graph');
  const opset = Number(model.opsetImport?.find((o) => !o.domain)?.version ?? 0);
  if (!opset) throw bad('it imports no default-domain opset');
  const values = new Map<string, Value>();
  const initializers = new Map<string, { value: Value; tensor: HostTensor }>();
  for (const t of g.initializer ?? []) {
    const tensor = tensorFromProto(t);
    const v = new Value(t.name ?? '', tensor.dtype, tensor.shape, tensor);
    values.set(v.name, v);
    initializers.set(v.name, { value: v, tensor });
  }
  const inputs: Value[] = [];
  for (const vi of g.input ?? []) {
    const name = vi.name ?? '';
    if (initializers.has(name)) continue;
    const tt = vi.type?.tensorType;
    const where = `input "${name}"`;
    const shape: Shape = (tt?.shape?.dim ?? []).map((d) => parseDim(d, where));
    const v = new Value(name, dtypeOf(tt?.elemType, where), shape);
    values.set(name, v);
    inputs.push(v);
  }
  const nodes: Node[] = [];
  for (const n of g.node ?? []) {
    const name = n.name || `${n.opType}_${nodes.length}`;
    const ins = (n.input ?? []).map((i) => {
      if (i === '') return undefined;
      const v = values.get(i);
      if (!v) throw bad(`node "${name}" reads "${i}" before any node writes it (nodes must be in topological order)`);
      return v;
    });
    const attrs: Attrs = Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', attrValue(a, `node "${name}"`)]));
    const outNames = n.output ?? [];
    const infos = inferOutputs(n.opType ?? '', name, ins, attrs, outNames.length);
    const outputs = outNames.map((o, i) => new Value(o, infos[i].dtype, infos[i].shape));
    const node: Node = { op: n.opType ?? '', name, inputs: ins, outputs, attrs, domain: n.domain ?? '' };
    for (const o of outputs) {
      o.producer = node;
      values.set(o.name, o);
    }
    nodes.push(node);
  }
  const outputs = (g.output ?? []).map((vi) => {
    const v = values.get(vi.name ?? '');
    if (!v) throw bad(`output "${vi.name}" is written by no node`);
    return v;
  });
  const metadata = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  return { name: g.name ?? 'graph', opset, inputs, outputs, nodes, initializers, metadata };
}
