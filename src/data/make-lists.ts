/**
 * Category and list files from the datasets' own annotation files, as the original's tools/gen_label_*.py, plus
 * UCF101/HMDB51 split files and plain class-folder layouts. Frame counts come from the extracted frame folders.
 * Node only.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { DataError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { oneOf } from '../util/check.js';
import { DATASET_MANIFEST, type DatasetManifest } from './dataset-config.js';
import { formatListFile, type VideoRecord } from './list-file.js';
import { RandomState } from './random.js';
import { templateToRegExp } from './template.js';

/** Annotation formats {@link makeLists} reads. */
export const LIST_FORMATS = Object.freeze({
  kinetics: 'Kinetics CSVs (label,youtube_id,time_start,time_end,split) [+ a label map]',
  'something-v1': 'Something-Something v1 labels.csv + train/validation CSVs (id;label)',
  jester: 'Jester labels.csv + train/validation CSVs (id;label)',
  'something-v2': 'Something-Something v2 labels.json + train/validation/test JSON',
  ucf101: 'UCF101 classInd.txt + trainlist0N.txt / testlist0N.txt',
  hmdb51: 'HMDB51 <class>_test_split<N>.txt files',
  folders: 'frames/<class>/<video>/ folders, split at random',
} as const);

/** One of {@link LIST_FORMATS}. */
export type ListFormat = keyof typeof LIST_FORMATS;

/** Options of {@link makeLists}; which files are needed depends on the format. */
export interface MakeListsOptions {
  /** Frames root: list paths are relative to it and frame counts are read from it. */
  readonly frames: string;
  /** Output folder for `category.txt`, the lists and `dataset.json`. */
  readonly out: string;
  /** Frame-name template used to count frames. @default 'img_{:05d}.jpg' */
  readonly imageTmpl?: string;
  /** Category source: kinetics label map, sth-v1/jester labels.csv, sth-v2 labels.json, UCF101 classInd.txt. */
  readonly labels?: string;
  /** Train annotation (CSV, JSON or UCF101 trainlist). */
  readonly train?: string;
  /** Validation annotation (CSV, JSON or UCF101 testlist). */
  readonly val?: string;
  /** Something-Something v2 test JSON (no labels; written with label 0 as the original). */
  readonly test?: string;
  /** HMDB51: folder of `<class>_test_split<N>.txt` files. */
  readonly splitsDir?: string;
  /** HMDB51 split number. @default 1 */
  readonly split?: number;
  /** `folders`: fraction of each class put in the validation list. @default 0.2 */
  readonly valFraction?: number;
  /** `folders`: seed of the split. @default 0 */
  readonly seed?: number;
  /** Dataset name recorded in dataset.json. @default the format */
  readonly name?: string;
}

/** What {@link makeLists} wrote. */
export interface MakeListsResult {
  readonly categories: readonly string[];
  /** Records per written list (`train`, `val`, maybe `test`). */
  readonly lists: Readonly<Record<string, readonly VideoRecord[]>>;
  /** Annotated videos with no frame folder, per list (also written to `missing_<list>.txt`). */
  readonly missing: Readonly<Record<string, readonly string[]>>;
  readonly files: readonly string[];
}

interface Entry {
  /** Folder names to try, relative to the frames root, first match wins. */
  readonly candidates: readonly string[];
  readonly label: number;
}

/** `value`, a file (or folder) the option `option` gives. @throws {UsageError} naming the option when it is missing */
function need(value: string | undefined, option: keyof MakeListsOptions, format: ListFormat, what = ''): string {
  if (!value) throw new UsageError(`the ${format} format needs ${option}${what}`, { options: [option] });
  if (!existsSync(value)) throw new UsageError(`${option} ${value} does not exist`, { options: [option] });
  return value;
}

function readLines(path: string): string[] {
  return readFileSync(path, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

/** Splits one CSV line, honouring double quotes. */
function csvFields(line: string, sep = ','): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '"') {
      if (quoted && line[i + 1] === '"') { cur += '"'; i++; } else quoted = !quoted;
    } else if (ch === sep && !quoted) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** gen_label_kinetics.py's folder-safe class name: spaces to `_`, quotes and parentheses dropped. */
export function kineticsClassName(label: string): string {
  return label.trim().replace(/ /g, '_').replace(/["()']/g, '');
}

function labelIndex(categories: readonly string[]): (name: string, where: string) => number {
  const map = new Map(categories.map((c, i) => [c, i]));
  return (name, where) => {
    const i = map.get(name);
    if (i === undefined) throw new DataError(`${where}: unknown class ${JSON.stringify(name)} (not among the ${categories.length} categories)`);
    return i;
  };
}

type Parsed = { categories: string[]; splits: Record<string, Entry[]> };

function parseKinetics(o: MakeListsOptions): Parsed {
  const files = { train: need(o.train, 'train', 'kinetics'), val: need(o.val, 'val', 'kinetics') };
  const rows: Record<string, string[][]> = {};
  for (const [k, f] of Object.entries(files)) rows[k] = readLines(f).slice(1).map((l) => csvFields(l)); // header first
  const categories = o.labels
    ? readLines(need(o.labels, 'labels', 'kinetics')).map(kineticsClassName)
    : [...new Set(Object.values(rows).flat().map((r) => kineticsClassName(r[0])))].sort();
  const index = labelIndex(categories);
  const splits: Record<string, Entry[]> = {};
  for (const [k, rs] of Object.entries(rows)) {
    splits[k] = rs.map((r, i) => {
      if (r.length < 4) throw new DataError(`${files[k as 'train']}:${i + 2}: expected label,youtube_id,time_start,time_end,..., got ${JSON.stringify(r.join(','))}`);
      const cls = kineticsClassName(r[0]);
      const [id, start, end] = [r[1], Number(r[2]), Number(r[3])];
      const pad = (n: number): string => String(Math.trunc(n)).padStart(6, '0');
      // downloaders name clips id_000012_000022; the original tool used id_start
      return { candidates: [`${cls}/${id}_${pad(start)}_${pad(end)}`, `${cls}/${id}_${r[2]}`, `${cls}/${id}`], label: index(cls, `${files[k as 'train']}:${i + 2}`) };
    });
  }
  return { categories, splits };
}

function parseSthV1(o: MakeListsOptions, format: ListFormat): Parsed {
  const categories = readLines(need(o.labels, 'labels', format)).sort();
  const index = labelIndex(categories);
  const splits: Record<string, Entry[]> = {};
  for (const [k, f] of [['train', need(o.train, 'train', format)], ['val', need(o.val, 'val', format)]] as const) {
    splits[k] = readLines(f).map((l, i) => {
      const [id, name] = csvFields(l, ';');
      if (name === undefined) throw new DataError(`${f}:${i + 1}: expected "id;label", got ${JSON.stringify(l)}`);
      return { candidates: [id], label: index(name, `${f}:${i + 1}`) };
    });
  }
  return { categories, splits };
}

function parseSthV2(o: MakeListsOptions): Parsed {
  const readJson = <T>(f: string): T => {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as T;
    } catch (cause) {
      throw new DataError(`cannot parse ${f}: ${(cause as Error).message}`, { cause });
    }
  };
  const labelFile = need(o.labels, 'labels', 'something-v2');
  const entries = Object.entries(readJson<Record<string, string>>(labelFile));
  const categories: string[] = [];
  entries.forEach(([name, idx], i) => {
    if (Number(idx) !== i) throw new DataError(`${labelFile}: "${name}" has index ${idx}, expected ${i} (the file must list classes in index order)`);
    categories.push(name);
  });
  const index = labelIndex(categories);
  const splits: Record<string, Entry[]> = {};
  const sources: [string, string | undefined][] = [['train', need(o.train, 'train', 'something-v2')], ['val', need(o.val, 'val', 'something-v2')], ['test', o.test]];
  for (const [k, f] of sources) {
    if (!f) continue;
    splits[k] = readJson<{ id: string; template?: string }[]>(need(f, k as 'train' | 'val' | 'test', 'something-v2')).map((item, i) => ({
      candidates: [String(item.id)],
      // the original strips the brackets of the template to get the class name; test videos get label 0
      label: k === 'test' ? 0 : index(String(item.template).replace(/[[\]]/g, ''), `${f}[${i}]`),
    }));
  }
  return { categories, splits };
}

function parseUcf101(o: MakeListsOptions): Parsed {
  const lines = readLines(need(o.labels, 'labels', 'ucf101', ' (classInd.txt)'));
  const categories = lines.map((l) => l.split(/\s+/)[1]);
  const index = labelIndex(categories);
  const splits: Record<string, Entry[]> = {};
  for (const [k, f] of [['train', need(o.train, 'train', 'ucf101')], ['val', need(o.val, 'val', 'ucf101')]] as const) {
    splits[k] = readLines(f).map((l, i) => {
      const video = l.split(/\s+/)[0];
      const cls = video.split('/')[0];
      const stem = video.replace(/\.[^./]+$/, '');
      return { candidates: [stem, stem.split('/').pop() as string], label: index(cls, `${f}:${i + 1}`) };
    });
  }
  return { categories, splits };
}

function parseHmdb51(o: MakeListsOptions): Parsed {
  const dir = need(o.splitsDir, 'splitsDir', 'hmdb51');
  const split = o.split ?? 1;
  const re = new RegExp(`^(.+)_test_split${split}\\.txt$`);
  const files = readdirSync(dir).filter((f) => re.test(f)).sort();
  if (files.length === 0) throw new DataError(`${dir} has no <class>_test_split${split}.txt files`);
  const categories = files.map((f) => (re.exec(f) as RegExpExecArray)[1]);
  const splits: Record<string, Entry[]> = { train: [], val: [] };
  files.forEach((f, label) => {
    for (const line of readLines(join(dir, f))) {
      const [video, tag] = line.split(/\s+/);
      const stem = video.replace(/\.[^./]+$/, '');
      const entry = { candidates: [`${categories[label]}/${stem}`, stem], label };
      if (tag === '1') splits.train.push(entry); // 1 = train, 2 = test, 0 = unused
      else if (tag === '2') splits.val.push(entry);
    }
  });
  return { categories, splits };
}

function parseFolders(o: MakeListsOptions): Parsed {
  const root = o.frames;
  const categories = readdirSync(root).filter((d) => statSync(join(root, d)).isDirectory() && !d.startsWith('.')).sort();
  if (categories.length === 0) throw new DataError(`${root} has no class subfolders`);
  const fraction = o.valFraction ?? 0.2;
  if (!(fraction >= 0 && fraction < 1)) throw UsageError.expected('valFraction', 'a number in [0, 1)', fraction);
  const rng = new RandomState(o.seed ?? 0);
  const splits: Record<string, Entry[]> = { train: [], val: [] };
  categories.forEach((cls, label) => {
    const videos = readdirSync(join(root, cls)).filter((v) => statSync(join(root, cls, v)).isDirectory() && !v.startsWith('.')).sort();
    const order = rng.shuffle([...videos]);
    const nVal = Math.round(videos.length * fraction);
    order.forEach((v, i) => (i < nVal ? splits.val : splits.train).push({ candidates: [`${cls}/${v}`], label }));
  });
  for (const k of ['train', 'val']) splits[k].sort((a, b) => (a.candidates[0] < b.candidates[0] ? -1 : 1));
  return { categories, splits };
}

/**
 * Builds category and list files from a dataset's annotations and its extracted frame folders: writes
 * `category.txt`, `<split>_videofolder.txt` (`path num_frames label`), `missing_<split>_videofolder.txt` when some
 * folders are missing, and `dataset.json`, so `out` can be passed as a dataset.
 * @throws {UsageError} when a needed file is not given or does not exist
 * @throws {DataError} for a malformed annotation or an unknown class
 * @example await makeLists('something-v2', { frames, out, labels: 'labels.json', train: 'train.json', val: 'validation.json' });
 */
export async function makeLists(format: ListFormat, opts: MakeListsOptions): Promise<MakeListsResult> {
  oneOf('format', format, LIST_FORMATS);
  if (!existsSync(opts.frames) || !statSync(opts.frames).isDirectory()) throw new UsageError(`frames root ${opts.frames} is not a folder`);
  const parsed: Parsed =
    format === 'kinetics' ? parseKinetics(opts)
      : format === 'something-v1' || format === 'jester' ? parseSthV1(opts, format)
        : format === 'something-v2' ? parseSthV2(opts)
          : format === 'ucf101' ? parseUcf101(opts)
            : format === 'hmdb51' ? parseHmdb51(opts)
              : parseFolders(opts);
  const imageTmpl = opts.imageTmpl ?? 'img_{:05d}.jpg';
  const frameName = templateToRegExp(imageTmpl);
  const lists: Record<string, VideoRecord[]> = {};
  const missing: Record<string, string[]> = {};
  const files: string[] = [];
  const write = async (name: string, text: string): Promise<void> => {
    const p = join(opts.out, name);
    await writeFileAtomic(p, text);
    files.push(p);
  };
  await write('category.txt', `${parsed.categories.join('\n')}\n`);
  for (const [split, entries] of Object.entries(parsed.splits)) {
    lists[split] = [];
    missing[split] = [];
    for (const e of entries) {
      const found = e.candidates.find((c) => existsSync(join(opts.frames, c)) && statSync(join(opts.frames, c)).isDirectory());
      if (!found) {
        missing[split].push(join(opts.frames, e.candidates[0]));
        continue;
      }
      const numFrames = readdirSync(join(opts.frames, found)).filter((f) => frameName.test(f)).length;
      lists[split].push({ path: found, numFrames, label: e.label });
    }
    await write(`${split}_videofolder.txt`, formatListFile(lists[split]));
    if (missing[split].length > 0) await write(`missing_${split}_videofolder.txt`, `${missing[split].join('\n')}\n`);
  }
  const manifest: DatasetManifest = {
    name: opts.name ?? format,
    modality: 'RGB',
    categories: 'category.txt',
    trainList: 'train_videofolder.txt',
    valList: 'val_videofolder.txt',
    root: relative(resolve(opts.out), resolve(opts.frames)) || '.',
    imageTmpl,
    flip: !(format === 'something-v1' || format === 'something-v2' || format === 'jester'),
  };
  await write(DATASET_MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  return { categories: parsed.categories, lists, missing, files };
}
