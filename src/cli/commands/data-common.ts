/**
 * Helpers shared by the data verbs (`extract-frames`, `make-lists`, `make-synthetic`): snake_case flag aliases,
 * number parsing that names the flag, and a cli-progress bar on stderr.
 */
import { SingleBar, Presets } from 'cli-progress';
import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';

/** Adds hidden `--snake_case` spellings of kebab-case flags (the original scripts' spellings). */
export function addSnakeAliases(cmd: Command, flags: readonly string[]): Command {
  for (const f of flags) {
    const [name, arg] = f.split(' ');
    cmd.addOption(new Option(`--${name.replace(/-/g, '_')}${arg ? ` ${arg}` : ''}`).hideHelp());
  }
  return cmd;
}

/** Folds `{ short_side: "256" }` into `{ shortSide: "256" }`; a typed snake_case spelling overrides the kebab default. */
export function mergeSnakeAliases<T extends Record<string, unknown>>(flags: T): T {
  const out: Record<string, unknown> = { ...flags };
  for (const [k, v] of Object.entries(flags)) {
    if (!k.includes('_')) continue;
    const camel = k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    if (v !== undefined) out[camel] = v; // the hidden alias has no default, so it was typed
    delete out[k];
  }
  return out as T;
}

/** Parses an integer flag, or throws a {@link UsageError} naming it. */
export function intFlag(name: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw UsageError.expected(name, `an integer >= ${min}`, value);
  return n;
}

/** Parses a number flag, or throws a {@link UsageError} naming it. */
export function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw UsageError.expected(name, 'a number', value);
  return n;
}

/** A progress bar on stderr (drawn only on a terminal). */
export function progressBar(label: string): { update(done: number, total: number): void; stop(): void } {
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
