/**
 * `tsm make-lists FORMAT --frames DIR --out DIR [--labels F] [--train F] [--val F] ...`: category and list files
 * from Kinetics CSVs, Something-Something CSV/JSON, Jester CSVs, UCF101/HMDB51 splits or class folders
 * (the original's tools/gen_label_*.py), plus a dataset.json so OUT works as `--dataset OUT`.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { LIST_FORMATS, makeLists, type ListFormat, type MakeListsOptions } from '../../data/index.js';
import { addSnakeAliases, intFlag, mergeSnakeAliases, numberFlag } from './data-common.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { aliasOptions } from '../option-flags.js';

interface MakeListsFlags {
  readonly frames: string;
  readonly out: string;
  readonly tmpl: string;
  readonly labels?: string;
  readonly train?: string;
  readonly val?: string;
  readonly test?: string;
  readonly splitsDir?: string;
  readonly split?: string;
  readonly valFraction?: string;
  readonly seed?: string;
  readonly name?: string;
}

/** Checks the format and flags; throws a UsageError naming the bad one. */
export function parseMakeListsFlags(format: string, flags: MakeListsFlags): { format: ListFormat; opts: MakeListsOptions } {
  if (!(format in LIST_FORMATS)) throw UsageError.expected('<format>', `one of ${Object.keys(LIST_FORMATS).join(', ')}`, format);
  return {
    format: format as ListFormat,
    opts: {
      frames: flags.frames,
      out: flags.out,
      imageTmpl: flags.tmpl,
      labels: flags.labels,
      train: flags.train,
      val: flags.val,
      test: flags.test,
      splitsDir: flags.splitsDir,
      split: intFlag('--split', flags.split, 1),
      valFraction: numberFlag('--val-fraction', flags.valFraction),
      seed: intFlag('--seed', flags.seed, 0),
      name: flags.name,
    },
  };
}

/** Registers `tsm make-lists`. */
export const registerMakeLists: RegisterCommand = (program: Command) => {
  const formats = Object.entries(LIST_FORMATS).map(([k, v]) => `  ${k}: ${v}`).join('\n');
  const cmd = program
    .command('make-lists')
    .description('Write category.txt and train/val list files (path num_frames label) from annotations and frame folders')
    .argument('<format>', `annotation format:\n${formats}`)
    .requiredOption('--frames <dir>', 'frames root (list paths are relative to it; frame counts are read there)')
    .requiredOption('--out <dir>', 'where to write category.txt, *_videofolder.txt and dataset.json')
    .option('--tmpl <template>', 'frame-name template used to count frames', 'img_{:05d}.jpg')
    .option('--labels <file>', 'categories: kinetics label map, labels.csv, labels.json or classInd.txt')
    .option('--train <file>', 'train annotations (CSV, JSON or trainlist0N.txt)')
    .option('--val <file>', 'validation annotations (CSV, JSON or testlist0N.txt)')
    .option('--test <file>', 'something-v2 test JSON')
    .option('--splits-dir <dir>', 'hmdb51: folder of <class>_test_split<N>.txt')
    .option('--split <n>', 'hmdb51 split number', '1')
    .option('--val-fraction <x>', 'folders: fraction of each class for validation', '0.2')
    .option('--seed <n>', 'folders: seed of the split', '0')
    .option('--name <name>', 'dataset name recorded in dataset.json');
  aliasOptions(cmd, { imageTmpl: '--tmpl' });
  addSnakeAliases(cmd, ['splits-dir <dir>', 'val-fraction <x>']).action(async (format: string, raw: MakeListsFlags) => {
    const parsed = parseMakeListsFlags(format, mergeSnakeAliases({ ...raw }));
    await checkOutputPath(parsed.opts.out, { kind: 'folder', flag: '--out' });
    const r = await makeLists(parsed.format, parsed.opts);
    process.stdout.write(`${r.categories.length} categories\n`);
    for (const [split, records] of Object.entries(r.lists)) {
      const miss = r.missing[split]?.length ?? 0;
      process.stdout.write(`${split}: ${records.length} videos${miss > 0 ? `, ${miss} missing frame folders (see missing_${split}_videofolder.txt)` : ''}\n`);
    }
    process.stdout.write(`wrote ${r.files.join(', ')}\n`);
  });
};
