/**
 * Typed reads of node attributes, with the default ONNX gives an attribute that is left out. Shape inference,
 * gradient rules and graph rewrites read attributes through these.
 */
import type { AttrValue, Attrs } from './ir.js';

/** Integer attribute `name`, or `dflt` when absent. */
export function attrInt(attrs: Attrs, name: string, dflt: number): number {
  const a = attrs[name] as AttrValue | undefined;
  return a && 'i' in a ? a.i : dflt;
}

/** Integer-list attribute `name`, or undefined when absent (its default often depends on the input's rank). */
export function attrInts(attrs: Attrs, name: string): readonly number[] | undefined {
  const a = attrs[name] as AttrValue | undefined;
  return a && 'ints' in a ? a.ints : undefined;
}

/** Float attribute `name`, or `dflt` when absent. */
export function attrFloat(attrs: Attrs, name: string, dflt: number): number {
  const a = attrs[name] as AttrValue | undefined;
  return a && 'f' in a ? a.f : dflt;
}

/** String attribute `name`, or `dflt` when absent. */
export function attrString<D extends string | undefined>(attrs: Attrs, name: string, dflt: D): string | D {
  const a = attrs[name] as AttrValue | undefined;
  return a && 's' in a ? a.s : dflt;
}
