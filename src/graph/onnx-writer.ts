/**
 * Serializes a {@link Graph} to ONNX bytes with the protobuf schema from the `onnx-proto` package
 * (no hand-written protobuf). Weights become initializers with raw little-endian data.
 */
import onnxProto from 'onnx-proto';
import { type HostTensor } from '../tensor/index.js';
import { isStatic, dimToString, type Shape } from './dims.js';
import type { AttrValue, Graph, Value } from './ir.js';

const { onnx } = onnxProto;

import { DEFAULT_OPSET, ONNX_DTYPE } from './opset.js';

export { DEFAULT_OPSET, ONNX_DTYPE };


/** Options of {@link encodeOnnx}. */
export interface OnnxWriteOptions {
  /** Default-domain opset; must be the one the graph was built for. @default the graph's */
  readonly opset?: number;
  /** Extra operator set imports, e.g. `{ 'com.microsoft.nchwc': 1 }`. */
  readonly extraOpsets?: Readonly<Record<string, number>>;
  /** Written as `producer_name`. @default 'temporal-shift' */
  readonly producer?: string;
}

function tensorProto(name: string, t: HostTensor): onnxProto.onnx.ITensorProto {
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: [...t.shape], dataType: ONNX_DTYPE[t.dtype], rawData: raw };
}

function shapeProto(shape: Shape): onnxProto.onnx.ITensorShapeProto {
  return { dim: shape.map((d) => (isStatic(d) ? { dimValue: d } : { dimParam: dimToString(d) })) };
}

function valueInfo(v: Value): onnxProto.onnx.IValueInfoProto {
  return { name: v.name, type: { tensorType: { elemType: ONNX_DTYPE[v.dtype], shape: shapeProto(v.shape) } } };
}

function attribute(name: string, a: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('ints' in a) return { name, type: T.INTS, ints: [...a.ints] };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('floats' in a) return { name, type: T.FLOATS, floats: [...a.floats] };
  if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  return { name, type: T.TENSOR, t: tensorProto('', a.t) };
}

/** Builds the ONNX ModelProto object of a graph. */
export function toModelProto(graph: Graph, opts: OnnxWriteOptions = {}): onnxProto.onnx.IModelProto {
  const initNames = new Set(graph.initializers.keys());
  const opsetImport = [{ domain: '', version: opts.opset ?? graph.opset ?? DEFAULT_OPSET }];
  for (const [domain, version] of Object.entries(opts.extraOpsets ?? {})) opsetImport.push({ domain, version });
  return {
    irVersion: 8,
    producerName: opts.producer ?? 'temporal-shift',
    producerVersion: '0.1.0',
    opsetImport,
    metadataProps: [...graph.metadata].map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.op,
        domain: n.domain,
        input: n.inputs.map((i) => i?.name ?? ''),
        output: n.outputs.map((o) => o.name),
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
      initializer: [...graph.initializers].map(([name, { tensor }]) => tensorProto(name, tensor)),
      input: graph.inputs.filter((v) => !initNames.has(v.name)).map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  };
}

/**
 * Encodes a graph as ONNX model bytes.
 * @example
 * const bytes = encodeOnnx(g.build());
 * const session = await createSession(bytes);
 */
export function encodeOnnx(graph: Graph, opts: OnnxWriteOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(graph, opts)).finish();
}

/** Decodes ONNX bytes (for inspection and tests: metadata, value names, op counts). */
export function decodeOnnx(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
