/**
 * The graph IR: values (typed symbolic tensors), nodes (ONNX ops with attributes) and a graph that owns them.
 * Building a graph computes nothing; it is serialized to ONNX and run by onnxruntime.
 */
import type { DType, HostTensor } from '../tensor/index.js';
import type { Shape } from './dims.js';

/** An ONNX attribute value, tagged with its ONNX attribute type. */
export type AttrValue =
  | { readonly i: number }
  | { readonly ints: readonly number[] }
  | { readonly f: number }
  | { readonly floats: readonly number[] }
  | { readonly s: string }
  | { readonly t: HostTensor };

/** Attributes of a node by name. */
export type Attrs = Readonly<Record<string, AttrValue>>;

/** A symbolic tensor in a graph: the output of a node, a graph input, or an initializer. */
export class Value {
  /** Node that produces this value; undefined for graph inputs and initializers. */
  producer?: Node;

  constructor(
    /** Unique name inside the graph; ONNX feeds and fetches use it. */
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** Known contents (initializers and constants), for shape inference of Reshape/Slice/Pad. */
    readonly constant?: HostTensor,
  ) {}

  get rank(): number {
    return this.shape.length;
  }
}

/** One ONNX operator application. An empty input slot (optional input left out) is `undefined`. */
export interface Node {
  readonly op: string;
  readonly name: string;
  readonly inputs: readonly (Value | undefined)[];
  readonly outputs: readonly Value[];
  readonly attrs: Attrs;
  /** Operator set domain; '' is the default ONNX domain. */
  readonly domain: string;
}

/** A whole graph: ordered nodes (topologically sorted by construction), inputs, outputs and initializers. */
export interface Graph {
  readonly name: string;
  /** Default-domain opset the op forms were chosen for. */
  readonly opset: number;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly nodes: readonly Node[];
  /** Initializers in insertion order: weights baked into the model. */
  readonly initializers: ReadonlyMap<string, { readonly value: Value; readonly tensor: HostTensor }>;
  /** Free-form string metadata written to the ONNX model (labels, input size, mean/std...). */
  readonly metadata: ReadonlyMap<string, string>;
}
