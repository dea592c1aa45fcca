/**
 * Class names of the zoo's datasets, so a released checkpoint's scores come with labels. The lists are data files
 * next to this module (`labels/*.txt`: a `#` header that cites where the list comes from, then one name per line in
 * class-index order), read on first use. Node only.
 */
import { readFileSync } from 'node:fs';
import { JESTER_LABELS } from '../deploy/labels.js';
import { InternalError } from '../errors.js';
import type { CheckpointMeta } from '../checkpoint/index.js';
import { parseCheckpointName } from '../models/config.js';
import { ZOO_DATASETS, type ZooDataset } from './table.js';

/** The label file of each dataset; Jester's 27 gestures are {@link JESTER_LABELS}. */
const LABEL_FILES: Readonly<Record<ZooDataset, string | readonly string[]>> = Object.freeze({
  kinetics: 'kinetics-400.txt',
  something: 'something-something.txt',
  somethingv2: 'something-something.txt',
  jester: JESTER_LABELS,
});

const cache = new Map<string, readonly string[]>();

/**
 * Parses a label file: `#` lines are comments, blank lines are skipped, every other line is one class name
 * (trailing whitespace dropped).
 */
export function parseLabelList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * The class names of a zoo dataset, in class-index order: Kinetics-400 (400), Something-Something V1 and V2 (174
 * each, the same list), Jester (27). Node only.
 * @throws {InternalError} when a shipped label file is missing or has the wrong count
 * @example zooLabels('kinetics')[0]; // 'abseiling'
 */
export function zooLabels(dataset: ZooDataset): readonly string[] {
  const source = LABEL_FILES[dataset];
  if (typeof source !== 'string') return source;
  let labels = cache.get(source);
  if (!labels) {
    let text: string;
    try {
      text = readFileSync(new URL(`./labels/${source}`, import.meta.url), 'utf8');
    } catch (cause) {
      throw new InternalError(`the label file labels/${source} of the ${dataset} zoo models is missing next to ${import.meta.url}: ${(cause as Error).message}`);
    }
    labels = Object.freeze(parseLabelList(text));
    cache.set(source, labels);
  }
  const want = ZOO_DATASETS[dataset].numClass;
  if (labels.length !== want) throw new InternalError(`labels/${source} has ${labels.length} names, ${ZOO_DATASETS[dataset].title} has ${want} classes`);
  return labels;
}

/**
 * The labels of a model trained on `dataset` with `numClasses` outputs, when `dataset` is a zoo dataset of that
 * many classes (a released file name says its dataset: `TSM_kinetics_...`); else undefined. Node only.
 */
export function datasetLabels(dataset: string | undefined, numClasses: number): readonly string[] | undefined {
  if (dataset === undefined || !Object.hasOwn(ZOO_DATASETS, dataset)) return undefined;
  const d = dataset as ZooDataset;
  return ZOO_DATASETS[d].numClass === numClasses ? zooLabels(d) : undefined;
}

/**
 * The class names a checkpoint comes with: the `categories` it records (`tsm train` writes them) when they fit its
 * classifier, else its zoo dataset's when the file name names one of that many classes (`TSM_kinetics_...`);
 * undefined when neither says. Node only.
 * @param path the checkpoint's path or file name
 */
export function checkpointLabels(path: string, meta: CheckpointMeta, numClasses: number): readonly string[] | undefined {
  if (meta.categories?.length === numClasses) return meta.categories;
  return datasetLabels(parseCheckpointName(path).dataset, numClasses);
}
