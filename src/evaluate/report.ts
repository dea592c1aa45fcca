/**
 * Reports of a test run: the summary lines test_models.py prints, a per-class table, the confusion matrix as a
 * self-contained HTML page and a PNG (sharp), `metrics.json`, and the CSV submission format of the original
 * (`--csv_file`). Node only where files are written.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { writeNpy } from '../checkpoint/npy.js';
import { hostTensor } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { type Metrics, argmax, scoreRow, topKIndices } from './metrics.js';
import type { ScoreSet } from './score-file.js';

const pct = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}%`);

/**
 * The closing lines of test_models.py: `Class Accuracy 61.20%` and `Overall Prec@1 64.30% Prec@5 88.10%`
 * (`Prec@k` with k < 5 for a dataset with fewer classes), after the upper bound.
 */
export function formatSummary(m: Metrics): string {
  return [
    `upper bound: ${(m.upperBound / 100).toFixed(4)}`,
    '-----Evaluation is finished------',
    `Class Accuracy ${m.meanClassAccuracy.toFixed(2)}%`,
    `Overall Prec@1 ${m.top1.toFixed(2)}% Prec@${m.k} ${m.top5.toFixed(2)}%`,
  ].join('\n');
}

/** The per-class table: class, videos, correct, accuracy, and the class it is most confused with. */
export function formatClassTable(m: Metrics): string {
  const idw = String(Math.max(0, m.numClass - 1)).length;
  const namew = Math.min(40, Math.max(5, ...m.perClass.map((c) => c.name.length)));
  const cut = (s: string) => (s.length > namew ? `${s.slice(0, namew - 1)}~` : s.padEnd(namew));
  const head = `${'#'.padStart(idw)} ${'class'.padEnd(namew)}  videos  correct  accuracy  most confused with`;
  const rows = m.perClass.map((c) => {
    const conf = c.confusedWith ? `${c.confusedWith.name} (${c.confusedWith.count})` : '';
    return `${String(c.index).padStart(idw)} ${cut(c.name)}  ${String(c.count).padStart(6)}  ${String(c.hits).padStart(7)}  ${pct(c.accuracy).padStart(8)}  ${conf}`.trimEnd();
  });
  return [head, ...rows].join('\n');
}

/** The per-class table as CSV (`index,class,videos,correct,accuracy,confused_with,confused_count`). */
export function classTableCsv(m: Metrics): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const rows = m.perClass.map((c) => [c.index, q(c.name), c.count, c.hits, c.accuracy === null ? '' : c.accuracy.toFixed(4), c.confusedWith ? q(c.confusedWith.name) : '', c.confusedWith?.count ?? ''].join(','));
  return `${['index,class,videos,correct,accuracy,confused_with,confused_count', ...rows].join('\n')}\n`;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** White to dark blue by `v` in [0, 1]. */
function shade(v: number): [number, number, number] {
  const t = Math.max(0, Math.min(1, v));
  return [Math.round(255 - 247 * t), Math.round(255 - 207 * t), Math.round(255 - 148 * t)];
}

/** Largest class count drawn as an HTML table; bigger matrices are shown as the PNG only. */
const HTML_TABLE_MAX_CLASSES = 60;

/** Options of {@link confusionHtml}. */
export interface ConfusionHtmlOptions {
  /** Page title. @default 'TSM test results' */
  readonly title?: string;
  /** Lines shown under the title (the run's description). */
  readonly notes?: readonly string[];
  /** File name of the PNG to show when the matrix is too big for a table. @default 'confusion.png' */
  readonly png?: string;
}

/**
 * A self-contained HTML page: the metrics, the confusion matrix (rows normalised, true class down, prediction
 * across; a table up to 60 classes, else the PNG) and the per-class table.
 */
export function confusionHtml(m: Metrics, opts: ConfusionHtmlOptions = {}): string {
  const title = opts.title ?? 'TSM test results';
  const n = m.numClass;
  let matrix: string;
  if (n <= HTML_TABLE_MAX_CLASSES) {
    const head = `<tr><th></th>${m.perClass.map((c) => `<th class="col" title="${esc(c.name)}">${c.index}</th>`).join('')}</tr>`;
    const body = m.confusion.map((row, i) => {
      const cnt = row.reduce((a, b) => a + b, 0);
      const cells = row.map((v, j) => {
        const [r, g, b] = shade(cnt === 0 ? 0 : v / cnt);
        const fg = cnt > 0 && v / cnt > 0.5 ? '#fff' : '#000';
        return `<td style="background:rgb(${r},${g},${b});color:${fg}" title="${esc(m.perClass[i].name)} → ${esc(m.perClass[j].name)}: ${v}">${v || ''}</td>`;
      });
      return `<tr><th title="${esc(m.perClass[i].name)}">${i} ${esc(m.perClass[i].name)}</th>${cells.join('')}</tr>`;
    });
    matrix = `<table class="cm">${head}${body.join('')}</table>`;
  } else {
    matrix = `<p><img src="${esc(opts.png ?? 'confusion.png')}" alt="confusion matrix, ${n} classes" style="image-rendering:pixelated;max-width:100%"></p>`;
  }
  const classRows = m.perClass
    .map((c) => `<tr><td>${c.index}</td><td>${esc(c.name)}</td><td>${c.count}</td><td>${c.hits}</td><td>${pct(c.accuracy)}</td><td>${c.confusedWith ? `${esc(c.confusedWith.name)} (${c.confusedWith.count})` : ''}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em}
table{border-collapse:collapse}
.cm td{width:1.6em;height:1.6em;text-align:center;font-size:11px;border:1px solid #eee}
.cm th{font-weight:normal;font-size:11px;text-align:right;padding-right:4px;white-space:nowrap}
.cm th.col{text-align:center}
.classes td,.classes th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}
</style></head><body>
<h1>${esc(title)}</h1>
${(opts.notes ?? []).map((l) => `<p>${esc(l)}</p>`).join('\n')}
<p><b>Prec@1</b> ${pct(m.top1)} &nbsp; <b>Prec@${m.k}</b> ${pct(m.top5)} &nbsp; <b>Class accuracy</b> ${pct(m.meanClassAccuracy)} &nbsp; <b>Upper bound</b> ${pct(m.upperBound)} &nbsp; ${m.numVideos} videos, ${n} classes</p>
<h2>Confusion matrix</h2>
<p>Rows: true class; columns: predicted class; shade: fraction of the row.</p>
${matrix}
<h2>Per class</h2>
<table class="classes"><tr><th>#</th><th>class</th><th>videos</th><th>correct</th><th>accuracy</th><th>most confused with</th></tr>
${classRows}
</table>
</body></html>
`;
}

/**
 * The confusion matrix as a PNG: one square per cell, rows normalised, white to dark blue. Node only (sharp).
 * @param cell pixels per cell. @default enough for a ~400 px image, at least 1
 */
export async function confusionPng(m: Metrics, cell = Math.max(1, Math.floor(400 / Math.max(1, m.numClass)))): Promise<Uint8Array> {
  const n = m.numClass;
  const side = n * cell;
  const px = new Uint8Array(side * side * 3);
  m.confusion.forEach((row, i) => {
    const cnt = row.reduce((a, b) => a + b, 0);
    row.forEach((v, j) => {
      const rgb = shade(cnt === 0 ? 0 : v / cnt);
      for (let y = i * cell; y < (i + 1) * cell; y++) for (let x = j * cell; x < (j + 1) * cell; x++) px.set(rgb, (y * side + x) * 3);
    });
  });
  const buf = await sharp(px, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * The CSV submission of test_models.py (`--csv_file`): `<video>;<class name>` per line, or for Something-Something
 * v2 `<video>;<i1>;<i2>;<i3>;<i4>;<i5>`, the five best class indices. Rows in list order.
 * NOTE: the original takes names from the `category.txt` beside the test list; we take the dataset's categories
 * (class indices where it has none, as Kinetics).
 */
export function submissionCsv(set: ScoreSet): string {
  const { meta, scores } = set;
  const top5 = meta.run.kind !== 'ensemble' && meta.run.dataset === 'somethingv2';
  const n = meta.numClass;
  return meta.videos
    .map((v, i) => {
      const row = scoreRow(scores, n, i);
      return top5 ? [v.id, ...topKIndices(row, Math.min(5, n))].join(';') : `${v.id};${meta.categories[argmax(row)] ?? argmax(row)}`;
    })
    .map((l) => `${l}\n`)
    .join('');
}

/** Files {@link writeReport} wrote. */
export interface ReportFiles {
  readonly metrics: string;
  readonly classes: string;
  readonly confusionNpy: string;
  readonly html: string;
  readonly png: string;
}

/**
 * Writes `metrics.json` (everything but the matrix), `per_class.csv`, `confusion.npy` (float64 counts, the
 * original's `cm.npy`), `confusion.html` and `confusion.png` into `dir`. Node only.
 * @param notes lines describing the run, shown on the HTML page
 */
export async function writeReport(dir: string, m: Metrics, notes: readonly string[] = []): Promise<ReportFiles> {
  const files: ReportFiles = {
    metrics: join(dir, 'metrics.json'),
    classes: join(dir, 'per_class.csv'),
    confusionNpy: join(dir, 'confusion.npy'),
    html: join(dir, 'confusion.html'),
    png: join(dir, 'confusion.png'),
  };
  const { confusion, ...rest } = m;
  await writeFileAtomic(files.metrics, `${JSON.stringify(rest, null, 1)}\n`);
  await writeFileAtomic(files.classes, classTableCsv(m));
  await writeNpy(files.confusionNpy, hostTensor('float64', [m.numClass, m.numClass], Float64Array.from(confusion.flat())));
  await writeFileAtomic(files.html, confusionHtml(m, { notes, png: 'confusion.png' }));
  await writeFileAtomic(files.png, await confusionPng(m));
  return files;
}
