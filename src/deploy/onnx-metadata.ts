/**
 * Reads the `metadata_props` of an ONNX file without a protobuf library: the browser demo needs the labels,
 * input size and buffer shapes before it creates a session, and onnxruntime-web does not expose them.
 * Browser-safe (no Node imports).
 */
import { UsageError } from '../errors.js';

/** `ModelProto` field numbers (onnx/onnx.proto). */
const MODEL_METADATA_PROPS = 14;
/** `StringStringEntryProto` field numbers. */
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

/** Protobuf wire types. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const badModel = (what: string): UsageError =>
  new UsageError(`not an ONNX model: ${what} (expected the bytes of a .onnx file written by tsm export or torch.onnx.export)`);

/** A cursor over protobuf bytes. */
class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly end = bytes.length,
  ) {}

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw badModel(`truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * scale; // NOTE: arithmetic, not bit ops, so lengths above 2^31 stay exact
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw badModel(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** Skips one field of `wireType`; returns `[start, end)` of a LEN field's payload. */
  skip(wireType: number): [number, number] {
    switch (wireType) {
      case VARINT:
        this.varint();
        return [this.pos, this.pos];
      case I64:
        this.pos += 8;
        break;
      case I32:
        this.pos += 4;
        break;
      case LEN: {
        const n = this.varint();
        const start = this.pos;
        this.pos += n;
        if (this.pos > this.end) throw badModel(`field of ${n} bytes runs past the end (${this.end} bytes)`);
        return [start, this.pos];
      }
      default:
        throw badModel(`unknown wire type ${wireType} at byte ${this.pos}`);
    }
    if (this.pos > this.end) throw badModel(`truncated field at byte ${this.pos}`);
    return [this.pos, this.pos];
  }
}

const utf8 = new TextDecoder();

/**
 * The `metadata_props` of an ONNX model as a plain object (later duplicates win). Reads only the top level of
 * `ModelProto`, skipping the graph, so it is fast on large models.
 * @param bytes the whole `.onnx` file
 * @throws {UsageError} when the bytes are not a protobuf message
 * @example
 * const meta = readOnnxMetadata(new Uint8Array(await (await fetch('model.onnx')).arrayBuffer()));
 * JSON.parse(meta.labels);
 */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const r = new Reader(bytes);
  while (r.pos < r.end) {
    const tag = r.varint();
    const [start, end] = r.skip(tag % 8);
    if (Math.floor(tag / 8) !== MODEL_METADATA_PROPS || tag % 8 !== LEN) continue;
    const e = new Reader(bytes, end);
    e.pos = start;
    let key = '';
    let value = '';
    while (e.pos < e.end) {
      const t = e.varint();
      const [s, f] = e.skip(t % 8);
      if (t % 8 !== LEN) continue;
      if (Math.floor(t / 8) === ENTRY_KEY) key = utf8.decode(bytes.subarray(s, f));
      else if (Math.floor(t / 8) === ENTRY_VALUE) value = utf8.decode(bytes.subarray(s, f));
    }
    out[key] = value;
  }
  return out;
}
