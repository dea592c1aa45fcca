/**
 * `tsm inspect-checkpoint FILE [--json] [--key NAME] [--strip-prefix PREFIX]`: the format, the training meta
 * (epoch, arch, best_prec1, other entries) and every tensor's key, dtype and shape of a `.pth` file, read with the
 * allow-list reader (nothing in the file is executed).
 */
import type { Command } from 'commander';
import { type PthFormat, describePy, extractStateDict, readPth, stripPrefix } from '../../checkpoint/index.js';
import { DTYPE_SIZE } from '../../tensor/index.js';
import type { RegisterCommand } from './index.js';

interface InspectFlags {
  readonly json?: boolean;
  readonly key?: string;
  readonly stripPrefix?: string;
}

/** What `tsm inspect-checkpoint --json` prints. */
export interface CheckpointListing {
  readonly file: string;
  readonly format: PthFormat;
  readonly epoch: number | null;
  readonly arch: string | null;
  readonly bestPrec1: number | null;
  /** Other top-level entries and their Python types, e.g. `{ optimizer: 'dict' }`. */
  readonly entries: Readonly<Record<string, string>>;
  readonly tensorBytes: number;
  readonly tensors: readonly { readonly key: string; readonly dtype: string; readonly shape: readonly number[] }[];
}

/** Reads a checkpoint and lists it. Node only. @throws {CheckpointError} when the file is unreadable or unsafe */
export async function inspectCheckpoint(path: string, opts: { key?: string; stripPrefix?: string } = {}): Promise<CheckpointListing> {
  const file = await readPth(path);
  const { stateDict, meta } = extractStateDict(file, { key: opts.key });
  const sd = opts.stripPrefix ? stripPrefix(stateDict, opts.stripPrefix) : stateDict;
  const { epoch, arch, best_prec1: best, ...rest } = meta;
  return {
    file: path,
    format: file.format,
    epoch: epoch ?? null,
    arch: arch ?? null,
    bestPrec1: best ?? null,
    entries: Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, describePy(v)])),
    tensorBytes: [...sd.values()].reduce((n, t) => n + t.data.length * DTYPE_SIZE[t.dtype], 0),
    tensors: [...sd].map(([key, t]) => ({ key, dtype: t.dtype, shape: t.shape })),
  };
}

function formatListing(l: CheckpointListing): string {
  const mb = (l.tensorBytes / 2 ** 20).toFixed(1);
  const lines = [`${l.file}: ${l.format} format, ${l.tensors.length} tensors, ${mb} MiB of tensor data`];
  if (l.epoch !== null) lines.push(`epoch: ${l.epoch}`);
  if (l.arch !== null) lines.push(`arch: ${l.arch}`);
  if (l.bestPrec1 !== null) lines.push(`best_prec1: ${l.bestPrec1}`);
  const others = Object.entries(l.entries);
  if (others.length > 0) lines.push(`other entries: ${others.map(([k, v]) => `${k} (${v})`).join(', ')}`);
  const width = Math.max(3, ...l.tensors.map((t) => t.key.length));
  lines.push('', `${'KEY'.padEnd(width)}  DTYPE    SHAPE`);
  for (const t of l.tensors) lines.push(`${t.key.padEnd(width)}  ${t.dtype.padEnd(7)}  [${t.shape.join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

/** Registers `tsm inspect-checkpoint`. */
export const registerInspectCheckpoint: RegisterCommand = (program: Command) => {
  program
    .command('inspect-checkpoint')
    .description('List the tensors (key, dtype, shape) and training meta of a PyTorch .pth checkpoint without running any of it')
    .argument('<file>', '.pth checkpoint (zip or legacy format)')
    .option('--json', 'print JSON instead of a table')
    .option('--key <name>', 'top-level entry that holds the tensors (default: state_dict, or the whole file)')
    .option('--strip-prefix <prefix>', "remove this prefix from keys, e.g. 'module.'")
    .action(async (file: string, flags: InspectFlags) => {
      const listing = await inspectCheckpoint(file, { key: flags.key, stripPrefix: flags.stripPrefix });
      process.stdout.write(flags.json ? `${JSON.stringify(listing, null, 2)}\n` : formatListing(listing));
    });
};
