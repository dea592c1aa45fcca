/**
 * TSN list files: one video per line, `path num_frames label`, paths relative to the frames root
 * (ops/dataset.py `VideoRecord`). Node only (reads the file system).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import { countTemplateFields, formatTemplate } from './template.js';

/** One line of a list file (ops/dataset.py `VideoRecord`). */
export interface VideoRecord {
  /** Frame folder, relative to the frames root. */
  readonly path: string;
  /** Number of frames in the folder (frames are numbered 1..numFrames). */
  readonly numFrames: number;
  /** Class index, 0-based. */
  readonly label: number;
  /** 1-based line of the list file it was read from (set by {@link parseListFile}), for error messages. */
  readonly line?: number;
}

/** `RGB` frames or `Flow` frames (x/y pairs), the two modalities the original trains. */
export type Modality = 'RGB' | 'Flow';

/** The original's minimum: `_parse_list` drops videos with fewer than 3 frames unless testing. */
export const MIN_FRAMES = 3;

/**
 * Parses list-file text. Blank lines are skipped; a path may contain spaces (the last two fields are the frame
 * count and the label), which the original's `split(' ')` did not allow.
 * @param text the file's contents
 * @param source the file name used in error messages
 * @throws {DataError} `train.txt:12: expected "path num_frames label" ...` for a malformed line
 */
export function parseListFile(text: string, source = '<list>'): VideoRecord[] {
  const records: VideoRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const fields = line.split(/\s+/);
    const where = `${source}:${i + 1}`;
    if (fields.length < 3) {
      throw new DataError(`${where}: expected "path num_frames label" (3 fields), got ${fields.length} in ${JSON.stringify(line)}`);
    }
    const label = fields[fields.length - 1];
    const numFrames = fields[fields.length - 2];
    if (!/^\d+$/.test(numFrames)) {
      throw new DataError(`${where}: num_frames must be a non-negative integer, got ${JSON.stringify(numFrames)} in ${JSON.stringify(line)}`);
    }
    if (!/^\d+$/.test(label)) {
      throw new DataError(`${where}: label must be a non-negative integer, got ${JSON.stringify(label)} in ${JSON.stringify(line)}`);
    }
    records.push({ path: fields.slice(0, -2).join(' '), numFrames: Number(numFrames), label: Number(label), line: i + 1 });
  }
  return records;
}

/**
 * Reads and parses a list file.
 * @throws {DataError} when the file cannot be read or a line is malformed
 */
export function readListFile(path: string): VideoRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new DataError(`cannot read list file ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseListFile(text, path);
}

/**
 * Checks that every label is a class index of a `numClasses`-class model, before anything trains or tests on it
 * (a label out of range would otherwise fail inside onnxruntime, or silently score garbage when validating).
 * @param source the list file, for the message
 * @throws {DataError} `val.txt:12: label 7 of v/12 is outside the 5 classes (valid labels 0..4) ...`
 * @example checkLabels(readListFile('val.txt'), 174, 'val.txt'); // Something-Something v2 labels are 0..173
 */
export function checkLabels(records: readonly VideoRecord[], numClasses: number, source = '<list>'): void {
  const bad = records.filter((r) => !(Number.isInteger(r.label) && r.label >= 0 && r.label < numClasses));
  if (bad.length === 0) return;
  const [first] = bad;
  const where = `${source}:${first.line ?? records.indexOf(first) + 1}`;
  const more = bad.length > 1 ? `; ${bad.length} lines have labels out of range` : '';
  throw new DataError(
    `${where}: label ${first.label} of ${first.path} is outside the ${numClasses} classes (valid labels 0..${numClasses - 1})${more}; is this the list of another dataset?`,
  );
}

/** Formats records back into list-file text (`path num_frames label` per line). */
export function formatListFile(records: readonly VideoRecord[]): string {
  return records.map((r) => `${r.path} ${r.numFrames} ${r.label}\n`).join('');
}

/** A problem with one record, found by {@link checkRecords}. */
export interface RecordProblem {
  readonly record: VideoRecord;
  /** 1-based position in the list. */
  readonly line: number;
  readonly kind: 'missing' | 'too-short';
  readonly detail: string;
}

/** Options of {@link checkRecords}. */
export interface CheckRecordsOptions {
  /** Frames root the record paths are relative to. */
  readonly rootPath: string;
  /** Frame-name template. @default 'img_{:05d}.jpg' */
  readonly imageTmpl?: string;
  /** @default 'RGB' */
  readonly modality?: Modality;
  /** Videos with fewer frames are reported as too short. @default 3 (the original's `_parse_list`) */
  readonly minFrames?: number;
}

/**
 * The files that hold frame `index` of the video in `dir`, as ops/dataset.py `_load_image` builds them: one file
 * for RGB (and for Flow stored as an RGB image of (x, y, blank)), or an x file and a y file for the two-field
 * `flow_{}_{:05d}.jpg` template and Something-Something v1's `{:06d}-{}_{:05d}.jpg` (whose folder is the zero-padded
 * video id).
 */
export function framePaths(rootPath: string, dir: string, tmpl: string, modality: Modality, index: number): string[] {
  if (modality === 'Flow') {
    const fields = countTemplateFields(tmpl);
    if (fields === 2) return ['x', 'y'].map((a) => join(rootPath, dir, formatTemplate(tmpl, a, index)));
    if (fields === 3) {
      const id = Number(dir);
      const folder = formatTemplate('{:06d}', id);
      return ['x', 'y'].map((a) => join(rootPath, folder, formatTemplate(tmpl, id, a, index)));
    }
  }
  return [join(rootPath, dir, formatTemplate(tmpl, index))];
}

/**
 * Checks that each record's frame folder exists and holds frames 1..numFrames (by looking for the first and
 * the last frame file), and that it has at least `minFrames` frames. Returns the problems; throws nothing.
 */
export function checkRecords(records: readonly VideoRecord[], opts: CheckRecordsOptions): RecordProblem[] {
  const { rootPath, imageTmpl = 'img_{:05d}.jpg', modality = 'RGB', minFrames = MIN_FRAMES } = opts;
  const problems: RecordProblem[] = [];
  records.forEach((record, i) => {
    const dir = dirname(framePaths(rootPath, record.path, imageTmpl, modality, 1)[0]);
    const line = i + 1;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      problems.push({ record, line, kind: 'missing', detail: `frame folder ${dir} does not exist` });
      return;
    }
    if (record.numFrames < minFrames) {
      problems.push({ record, line, kind: 'too-short', detail: `${record.path} has ${record.numFrames} frames, fewer than ${minFrames}` });
      return;
    }
    for (const idx of [1, record.numFrames]) {
      const file = framePaths(rootPath, record.path, imageTmpl, modality, idx)[0];
      if (!existsSync(file)) {
        const have = readdirSync(dir).length;
        problems.push({
          record,
          line,
          kind: idx === 1 ? 'missing' : 'too-short',
          detail: `${file} is missing (the list says ${record.numFrames} frames; the folder has ${have} files)`,
        });
        return;
      }
    }
  });
  return problems;
}
