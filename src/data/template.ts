/**
 * Frame-name templates in Python `str.format` spelling, as the original's dataset configs write them:
 * `img_{:05d}.jpg`, `{:06d}.jpg`, `flow_{}_{:05d}.jpg`, `{:06d}-{}_{:05d}.jpg`.
 */
import { UsageError } from '../errors.js';

const FIELD = /\{(:(0?)(\d*)d)?\}/g;

/**
 * Fills `{}` (any value) and `{:05d}`-style (zero-padded integer) fields in order, like Python's `str.format`.
 * @throws {UsageError} when the template has a different number of fields than values
 */
export function formatTemplate(tmpl: string, ...values: readonly (string | number)[]): string {
  let i = 0;
  const out = tmpl.replace(FIELD, (_m, spec: string | undefined, zero: string, width: string) => {
    if (i >= values.length) throw new UsageError(`template "${tmpl}" has more fields than the ${values.length} values given`);
    const v = values[i++];
    if (spec === undefined) return String(v);
    const n = Math.trunc(Number(v));
    const s = String(Math.abs(n));
    const w = width ? Number(width) : 0;
    const padded = s.length >= w ? s : (zero ? '0' : ' ').repeat(w - s.length - (n < 0 ? 1 : 0)) + s;
    return n < 0 ? `-${padded}` : padded;
  });
  if (i !== values.length) throw new UsageError(`template "${tmpl}" has ${i} fields but ${values.length} values were given`);
  return out;
}

/** Number of fields in a template (`flow_{}_{:05d}.jpg` has 2). */
export function countTemplateFields(tmpl: string): number {
  return [...tmpl.matchAll(FIELD)].length;
}

/** The ffmpeg output pattern for a one-field template: `img_{:05d}.jpg` -> `img_%05d.jpg`. */
export function templateToFfmpeg(tmpl: string): string {
  if (countTemplateFields(tmpl) !== 1) {
    throw UsageError.expected('tmpl', 'a template with one integer field such as img_{:05d}.jpg', tmpl);
  }
  return tmpl.replace(/%/g, '%%').replace(FIELD, (_m, spec: string | undefined, zero: string, width: string) =>
    spec === undefined ? '%d' : `%${zero}${width}d`,
  );
}

/** A regular expression that matches the names a one-field template produces, capturing the number. */
export function templateToRegExp(tmpl: string): RegExp {
  const parts = tmpl.split(FIELD);
  // split with capture groups interleaves the groups; keep only the literal pieces (every 4th element)
  const literals: string[] = [];
  for (let i = 0; i < parts.length; i += 4) literals.push(parts[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${literals.join('(\\d+)')}$`);
}
