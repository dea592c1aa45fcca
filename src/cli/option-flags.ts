/**
 * Library errors name API options (`topK`, `numClass: 5`); the command line shows them as the flags of the command
 * that ran (`--top-k`, `--num-class 5`). A flag is found by its commander attribute name (`--top-k` is `topK`);
 * where a library option and its flag are spelled differently (`numSegments` and `--segments`), the command
 * registers an alias next to its flags with {@link aliasOptions}.
 */
import type { Command, Option } from 'commander';

const ALIASES = new WeakMap<Command, Map<string, string>>();

/**
 * Registers the flags of `cmd` that stand for library options of another name. Later calls add to the table.
 * @param table library option -> the flag's long name, e.g. `{ numSegments: '--segments', isShift: '--shift' }`
 * @example aliasOptions(cmd, { precision: '--quantize', method: '--calibration-method' });
 */
export function aliasOptions(cmd: Command, table: Readonly<Record<string, string>>): Command {
  const own = ALIASES.get(cmd) ?? new Map<string, string>();
  for (const [option, flag] of Object.entries(table)) own.set(option, flag);
  ALIASES.set(cmd, own);
  return cmd;
}

/**
 * The flag of `cmd` that sets library option `option`: its registered alias, else the flag whose attribute name
 * is `option` (a shown one before a hidden spelling); undefined when the command has none.
 */
export function flagOf(cmd: Command, option: string): Option | undefined {
  const alias = ALIASES.get(cmd)?.get(option);
  if (alias !== undefined) return cmd.options.find((o) => o.long === alias);
  const named = cmd.options.filter((o) => !o.negate && o.attributeName() === option);
  return named.find((o) => !o.hidden) ?? named[0];
}

// A value written after `option: ` in a message: a quoted string, a boolean, a number, or a placeholder (`N`, `PATH`).
const VALUE = String.raw`'[^']*'|"[^"]*"|true|false|-?\d+(?:\.\d+)?|[A-Z][A-Z_]*(?![\w-])`;

/** How the command line spells `flag` set to `value` (as written in the message; none for a bare mention). */
function spell(cmd: Command, flag: Option, value: string | undefined): string {
  const long = flag.long as string;
  // a flag without a value (`--online-shift`) says `shiftMode: 'online'` by being there
  if (value === undefined || value === 'true' || (value !== 'false' && !flag.required && !flag.optional)) return long;
  if (value === 'false') {
    const negated = cmd.options.find((o) => o.negate && o.attributeName() === flag.attributeName());
    return negated?.long ?? `without ${long}`;
  }
  return `${long} ${/^['"]/.test(value) ? value.slice(1, -1) : value}`;
}

/**
 * Rewrites the options a library message names as the flags of `cmd`. Only the first whole-word occurrence of each
 * option is rewritten, together with a value written after it: `pass numClass: 5` -> `pass --num-class 5`,
 * `isShift: false` -> `--no-shift`, `arch: 'resnet50'` -> `--arch resnet50`. A word joined to `-`, `_`, `.`, `/` or
 * `\`, or inside `<...>`, is part of a flag, a key, a path or a placeholder and stays; so do options the command has
 * no flag for.
 * @param options the options the message names, as the error records them (`TsmError.options`)
 * @example flagMessage('expected a positive integer for topK but received 0', ['topK'], predictCommand)
 * // 'expected a positive integer for --top-k but received 0'
 */
export function flagMessage(message: string, options: readonly string[], cmd: Command): string {
  let out = message;
  for (const option of new Set(options)) {
    const flag = flagOf(cmd, option);
    if (flag?.long === undefined) continue;
    const word = new RegExp(String.raw`(?<![\w\-./\\<])${option.replace(/[^\w]/g, '\\$&')}(?![\w\-/\\>])(?:: (${VALUE}))?`);
    out = out.replace(word, (_m, value: string | undefined) => spell(cmd, flag, value));
  }
  return out;
}
