/**
 * Entry point of the `tsm` command line. Only src/cli writes to stdout/stderr and picks exit codes:
 * 0 ok, 1 failure, 2 usage error.
 */
import { Command, CommanderError } from 'commander';
import { TsmError, UsageError } from '../errors.js';
import { COMMANDS } from './commands/index.js';
import { flagMessage } from './option-flags.js';

const program = new Command('tsm')
  .description('temporal-shift: Temporal Shift Module (TSM) video action recognition in TypeScript')
  // commander's own usage errors (an unknown option, a missing argument) read like every other bad input: one
  // `error TSM_USAGE:` line naming the flag, and a pointer to the help rather than all of it
  .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'error TSM_USAGE: ')) })
  .showHelpAfterError('(add --help to list the options)')
  .exitOverride();

for (const register of COMMANDS) register(program);

// the command whose action runs: library errors name options (`topK`), which are said as its flags (`--top-k`)
let ran: Command | undefined;
program.hook('preAction', (_program, action) => {
  ran = action;
});

// as the original scripts' argparse: the last value wins, so a flag appended to a saved command line overrides it
program.addHelpText('afterAll', '\nA flag given twice takes its last value, as in the original scripts (argparse): --flag A --flag B means B.');

function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return 2;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  return 1;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = exitCodeOf(err);
  if (err instanceof TsmError) {
    process.stderr.write(`error ${err.code}: ${ran ? flagMessage(err.message, err.options, ran) : err.message}\n`);
  } else if (!(err instanceof CommanderError)) {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exitCode = code;
}
