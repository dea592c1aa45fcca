/**
 * `tsm make-synthetic OUT --classes left,right --clips N --size S [--frames F] [--seed N]`: the synthetic
 * temporal-order dataset (JPEG frame folders, lists, categories, dataset.json) in the standard layout.
 */
import type { Command } from 'commander';
import { ALL_SYNTHETIC_CLASSES, TEMPORAL_ORDER_CLASSES, makeSyntheticDataset, parseSyntheticClasses, type MakeSyntheticOptions } from '../../data/index.js';
import { UsageError } from '../../errors.js';
import { addSnakeAliases, intFlag, mergeSnakeAliases, numberFlag, progressBar } from './data-common.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';

interface SyntheticFlags {
  readonly classes: string;
  readonly clips: string;
  readonly size: string;
  readonly frames: string;
  readonly seed: string;
  readonly valFraction: string;
  readonly quality: string;
}

/** Checks the flags; throws a UsageError naming the flag. */
export function parseSyntheticFlags(flags: SyntheticFlags): MakeSyntheticOptions {
  const clips = intFlag('--clips', flags.clips, 1);
  if (clips === undefined) throw new UsageError('--clips is required');
  return {
    classes: parseSyntheticClasses(flags.classes.split(',').map((s) => s.trim()).filter(Boolean)),
    clips,
    size: intFlag('--size', flags.size, 16),
    frames: intFlag('--frames', flags.frames, 2),
    seed: intFlag('--seed', flags.seed, 0),
    valFraction: numberFlag('--val-fraction', flags.valFraction),
    quality: intFlag('--quality', flags.quality, 1),
  };
}

/** Registers `tsm make-synthetic`. */
export const registerMakeSynthetic: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('make-synthetic')
    .description('Write a synthetic dataset whose classes differ only in frame order (for tests and the TSM-vs-TSN demo)')
    .argument('<out>', 'output folder (frames/, category.txt, train/val_videofolder.txt, dataset.json)')
    .option('--classes <list>', `comma-separated, from: ${ALL_SYNTHETIC_CLASSES.join(', ')}`, TEMPORAL_ORDER_CLASSES.join(','))
    .requiredOption('--clips <n>', 'clips per class (train + val)')
    .option('--size <px>', 'frame width and height', '64')
    .option('--frames <n>', 'frames per clip', '16')
    .option('--seed <n>', 'random seed', '0')
    .option('--val-fraction <x>', 'fraction of each class in the validation list', '0.2')
    .option('--quality <q>', 'JPEG quality', '90');
  addSnakeAliases(cmd, ['val-fraction <x>']).action(async (out: string, raw: SyntheticFlags) => {
    const opts = parseSyntheticFlags(mergeSnakeAliases({ ...raw }));
    await checkOutputPath(out, { kind: 'folder', flag: '<out>' });
    const bar = progressBar('synthesize');
    const r = await makeSyntheticDataset(out, { ...opts, onProgress: (e) => bar.update(e.done, e.total) });
    bar.stop();
    process.stdout.write(`wrote ${r.train.length} train and ${r.val.length} val clips of ${r.classes.join(', ')} to ${out}\n`);
  });
};
