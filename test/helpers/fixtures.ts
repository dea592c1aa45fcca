/**
 * Golden fixtures from the original PyTorch code, read in place from ../shared/fixtures (never copied into the
 * repo). A missing fixture fails the test with the path it looked for; it never skips.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../../src/checkpoint/npy.js';
import type { HostTensor } from '../../src/tensor/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folder of the shared fixtures: `$TSM_FIXTURES` or `../shared/fixtures` beside the checkout. */
export const FIXTURES_DIR = process.env.TSM_FIXTURES ?? resolve(repoRoot, '..', 'shared', 'fixtures');

/** Absolute path of a fixture file; throws (failing the test) when it is missing. */
export function fixturePath(name: string): string {
  const p = join(FIXTURES_DIR, name);
  if (!existsSync(p)) throw new Error(`fixture missing: ${p} (set TSM_FIXTURES to the shared fixtures folder)`);
  return p;
}

/** One case of manifest.json (the fields vary by kind, so they stay loosely typed here). */
export interface FixtureCase {
  readonly name: string;
  readonly kind: string;
  readonly files: Record<string, unknown>;
  readonly tolerance: Record<string, unknown>;
  readonly [key: string]: unknown;
}

let manifest: { cases: FixtureCase[] } | undefined;

/** The case named `name` from manifest.json. */
export function fixtureCase(name: string): FixtureCase {
  manifest ??= JSON.parse(readFileSync(fixturePath('manifest.json'), 'utf8')) as { cases: FixtureCase[] };
  const c = manifest.cases.find((x) => x.name === name);
  if (!c) throw new Error(`manifest.json in ${FIXTURES_DIR} has no case "${name}"`);
  return c;
}

/** Reads a fixture `.npy`. */
export function fixtureNpy(file: string): Promise<HostTensor> {
  return readNpy(fixturePath(file));
}
