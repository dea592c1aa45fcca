/**
 * Checks of option values where they enter the library, each with the one error message its kind of value gets.
 * Browser-safe.
 */
import { UsageError } from '../errors.js';

/**
 * `value` as a key of `table` (own keys only: `'toString'` is no device).
 * @param what the option in words, for the message (`shift mode`)
 * @throws {UsageError} `Unsupported shift mode: sideways. Must be one of [bidirectional, online]`
 * @example const mode = oneOf('shift mode', opts.shiftMode ?? 'bidirectional', SHIFT_MODES);
 */
export function oneOf<K extends string>(what: string, value: unknown, table: Readonly<Record<K, unknown>>): K {
  if (typeof value === 'string' && Object.hasOwn(table, value)) return value as K;
  throw UsageError.unsupported(what, value, Object.keys(table));
}

/**
 * `v` when it is an integer of at least 1.
 * @throws {UsageError} `expected a positive integer for num_segments but received 0`
 */
export function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw UsageError.expected(name, 'a positive integer', v);
  return v;
}
