/**
 * The log folder of a training run (`<rootLog>/<storeName>/`): main.py's `log.csv` lines, a `log.jsonl` with one
 * JSON record per step, epoch and validation, and loss / accuracy curves redrawn after every epoch as a
 * self-contained HTML page (`curves.html`, inline SVG, no external assets) and a PNG (`curves.png`, the same SVG
 * rendered by sharp). Every file but the two append-only logs is written to a temporary name and renamed.
 * Node only.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { EpochStats } from './trainer.js';

/** One line of `log.jsonl`. `time` is when the record was written (ISO 8601). */
export type LogRecord =
  | {
      readonly type: 'step';
      readonly epoch: number;
      readonly iter: number;
      readonly loss: number;
      readonly top1: number;
      readonly top5: number;
      readonly gradNorm: number;
      readonly lr: number;
      readonly samples: number;
      readonly ms: number;
      readonly time?: string;
    }
  | ({ readonly type: 'epoch'; readonly epoch: number; readonly time?: string } & EpochStats)
  | { readonly type: 'val'; readonly epoch: number; readonly loss: number; readonly top1: number; readonly top5: number; readonly time?: string };

/** File names inside the log folder. */
export const LOG_FILES = Object.freeze({ csv: 'log.csv', jsonl: 'log.jsonl', html: 'curves.html', png: 'curves.png' });

/** Options of {@link TrainLog}. */
export interface TrainLogOptions {
  /**
   * The first epoch this run trains. Records of earlier epochs already in `log.jsonl` (a resumed run) are kept as
   * history for the curves; later ones belong to the interrupted run and are left out of them. @default 0
   */
  readonly startEpoch?: number;
  /** Title of the curves. @default the folder name */
  readonly title?: string;
}

/**
 * The log folder of one run.
 * @example
 * const log = new TrainLog('log/TSM_something_RGB_resnet50_...', { startEpoch: 0 });
 * log.record({ type: 'epoch', epoch: 0, lr: 0.01, loss: 4.2, top1: 3.1, top5: 12, batches: 100, samples: 6400, ms: 9e5 });
 * await log.renderCurves();
 */
export class TrainLog {
  private readonly history: LogRecord[] = [];
  readonly title: string;

  /** Creates the folder; reads the history of a resumed run from an existing `log.jsonl`. */
  constructor(
    readonly dir: string,
    opts: TrainLogOptions = {},
  ) {
    mkdirSync(dir, { recursive: true });
    this.title = opts.title ?? dir.split(/[\\/]/).filter(Boolean).pop() ?? 'training';
    const jsonl = join(dir, LOG_FILES.jsonl);
    const start = opts.startEpoch ?? 0;
    if (start > 0 && existsSync(jsonl)) {
      for (const line of readFileSync(jsonl, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const r = JSON.parse(line) as LogRecord;
          if (typeof r.epoch === 'number' && r.epoch < start) this.history.push(r);
        } catch {
          // NOTE: a run killed mid-write can leave a partial last line; it carries nothing to plot.
        }
      }
    }
  }

  /** Every record the curves show: the resumed history, then this run's. */
  get records(): readonly LogRecord[] {
    return this.history;
  }

  /** Appends one line to `log.csv` (main.py's text log). */
  csv(line: string): void {
    appendFileSync(join(this.dir, LOG_FILES.csv), `${line}\n`);
  }

  /** Appends one record to `log.jsonl` (with `time`) and keeps it for the curves. */
  record(r: LogRecord): void {
    const withTime = { ...r, time: r.time ?? new Date().toISOString() };
    appendFileSync(join(this.dir, LOG_FILES.jsonl), `${JSON.stringify(withTime)}\n`);
    this.history.push(withTime);
  }

  /** Writes `curves.html` and `curves.png` from the records so far. */
  async renderCurves(): Promise<void> {
    const svg = curvesSvg(this.history, { title: this.title });
    await writeFileAtomic(join(this.dir, LOG_FILES.html), curvesHtml(this.history, svg, this.title));
    await writeFileAtomic(join(this.dir, LOG_FILES.png), await sharp(Buffer.from(svg)).png().toBuffer());
  }
}

/** The last record of each key, in first-seen order (a resumed epoch replaces the interrupted one). */
function latest<R extends LogRecord>(records: readonly LogRecord[], type: R['type'], key: (r: R) => string): R[] {
  const out = new Map<string, R>();
  for (const r of records) if (r.type === type) out.set(key(r as R), r as R);
  return [...out.values()].sort((a, b) => a.epoch - b.epoch);
}

type StepRecord = Extract<LogRecord, { type: 'step' }>;
type EpochRecord = Extract<LogRecord, { type: 'epoch' }>;
type ValRecord = Extract<LogRecord, { type: 'val' }>;

/** About `count` round tick values covering [lo, hi] (1, 2, 5 x 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  /** Draw dots only, faint (per-step values). */
  readonly faint?: boolean;
}

/** One panel: axes, ticks, a line per series and a legend. */
function panel(x0: number, y0: number, w: number, h: number, title: string, series: readonly Series[], yFloor?: number): string {
  const pad = { l: 52, r: 12, t: 28, b: 36 };
  const pw = w - pad.l - pad.r;
  const ph = h - pad.t - pad.b;
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(1, ...xs);
  let yMin = ys.length ? Math.min(...ys) : 0;
  let yMax = ys.length ? Math.max(...ys) : 1;
  if (yFloor !== undefined) yMin = Math.min(yMin, yFloor);
  if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const sx = (x: number) => x0 + pad.l + ((x - xMin) / (xMax - xMin)) * pw;
  const sy = (y: number) => y0 + pad.t + ph - ((y - yMin) / (yMax - yMin)) * ph;
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  parts.push(`<text x="${f(x0 + pad.l)}" y="${f(y0 + 18)}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<rect x="${f(x0 + pad.l)}" y="${f(y0 + pad.t)}" width="${f(pw)}" height="${f(ph)}" fill="none" stroke="#999"/>`);
  for (const t of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${f(x0 + pad.l)}" x2="${f(x0 + pad.l + pw)}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${f(x0 + pad.l - 6)}" y="${f(sy(t) + 4)}" font-size="11" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, 6).filter((v) => Number.isInteger(v))) {
    parts.push(`<text x="${f(sx(t))}" y="${f(y0 + pad.t + ph + 16)}" font-size="11" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<text x="${f(x0 + pad.l + pw / 2)}" y="${f(y0 + h - 4)}" font-size="11" text-anchor="middle">epoch</text>`);
  for (const s of series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    if (s.faint) {
      for (const [x, y] of pts) parts.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="1.5" fill="${s.color}" fill-opacity="0.35"/>`);
    } else if (pts.length > 0) {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ')}"/>`);
      for (const [x, y] of pts) parts.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${s.color}"/>`);
    }
  }
  series.forEach((s, i) => {
    const ly = y0 + pad.t + 14 + i * 16;
    const lx = x0 + pad.l + pw - 120;
    parts.push(`<rect x="${f(lx)}" y="${f(ly - 8)}" width="10" height="10" fill="${s.color}"${s.faint ? ' fill-opacity="0.35"' : ''}/>`);
    parts.push(`<text x="${f(lx + 14)}" y="${f(ly + 1)}" font-size="11">${esc(s.label)}</text>`);
  });
  return parts.join('\n');
}

/**
 * Loss and top-1 curves of a run as one SVG document: train loss per epoch (and per step, faint) with the
 * validation loss on the left; train and validation precision@1 on the right. Epoch `e`'s train values sit at
 * x = e + 1 (the end of the epoch), a step at e + (iter + 1) / batches.
 * @param opts.width @default 960
 * @param opts.height @default 360
 */
export function curvesSvg(records: readonly LogRecord[], opts: { title?: string; width?: number; height?: number } = {}): string {
  const width = opts.width ?? 960;
  const height = opts.height ?? 360;
  const epochs = latest<EpochRecord>(records, 'epoch', (r) => String(r.epoch));
  const vals = latest<ValRecord>(records, 'val', (r) => String(r.epoch));
  const steps = latest<StepRecord>(records, 'step', (r) => `${r.epoch}:${r.iter}`);
  const perEpoch = new Map<number, number>();
  for (const s of steps) perEpoch.set(s.epoch, Math.max(perEpoch.get(s.epoch) ?? 0, s.iter + 1));
  const stepX = (s: StepRecord) => s.epoch + (s.iter + 1) / (perEpoch.get(s.epoch) ?? 1);
  const top = 24;
  const half = width / 2;
  const loss = panel(0, top, half, height - top, 'Loss', [
    { label: 'train (step)', color: '#6f8fb0', points: steps.map((s) => [stepX(s), s.loss]), faint: true },
    { label: 'train', color: '#1f77b4', points: epochs.map((e) => [e.epoch + 1, e.loss]) },
    { label: 'validation', color: '#d62728', points: vals.map((v) => [v.epoch + 1, v.loss]) },
  ], 0);
  const acc = panel(half, top, half, height - top, 'Top-1 (%)', [
    { label: 'train', color: '#1f77b4', points: epochs.map((e) => [e.epoch + 1, e.top1]) },
    { label: 'validation', color: '#d62728', points: vals.map((v) => [v.epoch + 1, v.top1]) },
  ], 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="16" font-size="13">${esc(opts.title ?? 'training')}</text>`,
    loss,
    acc,
    '</svg>',
  ].join('\n');
}

/** The curves page: title, the SVG, a table of the per-epoch values, and the records as JSON for scripts. */
export function curvesHtml(records: readonly LogRecord[], svg: string, title: string): string {
  const epochs = latest<EpochRecord>(records, 'epoch', (r) => String(r.epoch));
  const vals = new Map(latest<ValRecord>(records, 'val', (r) => String(r.epoch)).map((v) => [v.epoch, v]));
  const cell = (v: number | undefined, digits: number) => `<td>${v === undefined ? '' : v.toFixed(digits)}</td>`;
  const rows = epochs.map((e) => {
    const v = vals.get(e.epoch);
    return `<tr><td>${e.epoch}</td>${cell(e.lr, 5)}${cell(e.loss, 4)}${cell(e.top1, 3)}${cell(e.top5, 3)}${cell(v?.loss, 4)}${cell(v?.top1, 3)}${cell(v?.top5, 3)}${cell(e.samples / (e.ms / 1000), 1)}</tr>`;
  });
  const summary = epochs.map(({ epoch, lr, loss, top1, top5 }) => ({ epoch, lr, loss, top1, top5, val: vals.get(epoch) ?? null }));
  // NOTE: `<` is escaped inside the JSON so no value can close the script element.
  const json = JSON.stringify(summary).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:16px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style>
</head><body>
<h1>${esc(title)}</h1>
${svg}
<table><thead><tr><th>epoch</th><th>lr</th><th>loss</th><th>Prec@1</th><th>Prec@5</th><th>val loss</th><th>val Prec@1</th><th>val Prec@5</th><th>clips/s</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
<script type="application/json" id="epochs">${json}</script>
</body></html>
`;
}
