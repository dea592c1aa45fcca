/**
 * Videos -> frame folders with the system ffmpeg, as the original's tools/vid2img_kinetics.py and
 * vid2img_sthv2.py: parallel, resumable (finished videos are skipped), and a failed video leaves no half folder
 * (frames go to a temporary folder renamed when ffmpeg succeeds). Node only.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { DataError, UsageError } from '../errors.js';
import { spawnChild } from '../util/spawn-child.js';
import { FFMPEG } from './video.js';
import { countTemplateFields, templateToFfmpeg } from './template.js';

/** Video file extensions picked up when scanning a folder. */
export const VIDEO_EXTENSIONS: readonly string[] = Object.freeze(['.mp4', '.webm', '.avi', '.mkv', '.mov', '.m4v', '.mpg', '.mpeg']);

/** Options of {@link extractFrames}. */
export interface ExtractFramesOptions {
  /** Frame-name template. @default 'img_{:05d}.jpg' (Kinetics; Something-Something v2 uses '{:06d}.jpg') */
  readonly imageTmpl?: string;
  /** Scale to this height, keeping the aspect (the original's `-vf scale=-1:H`: 331 Kinetics, 256 sth-v2). */
  readonly height?: number;
  /** Scale so the shorter side is this many pixels (instead of `height`). */
  readonly shortSide?: number;
  /** ffmpeg `-q:v` JPEG quality, 1 (best) to 31. @default 2 */
  readonly quality?: number;
  /** Videos extracted at once. @default the number of CPUs */
  readonly jobs?: number;
  /** Progress events: one per finished, skipped or failed video. */
  readonly onProgress?: (e: ExtractProgress) => void;
}

/** One progress event of {@link extractFrames}. */
export interface ExtractProgress {
  readonly status: 'done' | 'skipped' | 'failed';
  readonly video: string;
  readonly completed: number;
  readonly total: number;
}

/** Result of {@link extractFrames}. */
export interface ExtractFramesResult {
  /** Videos extracted now, with their frame counts. */
  readonly done: readonly { readonly video: string; readonly dir: string; readonly frames: number }[];
  /** Videos whose frame folder already existed. */
  readonly skipped: readonly string[];
  /** Videos ffmpeg could not decode, with its message. */
  readonly failed: readonly { readonly video: string; readonly error: string }[];
}

/** Every video file under `dir`, recursively, sorted. */
export async function findVideos(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (VIDEO_EXTENSIONS.includes(extname(e.name).toLowerCase())) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

function ffmpegFrames(video: string, outPattern: string, opts: ExtractFramesOptions): Promise<void> {
  const scale = opts.shortSide !== undefined
    ? [`-vf`, `scale='if(lt(iw,ih),${opts.shortSide},-2)':'if(lt(iw,ih),-2,${opts.shortSide})'`]
    : opts.height !== undefined ? ['-vf', `scale=-2:${opts.height}`] : [];
  const args = ['-v', 'error', '-nostdin', '-i', video, '-threads', '1', ...scale, '-q:v', String(opts.quality ?? 2), outPattern];
  return new Promise((resolve, reject) => {
    const child = spawnChild(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (cause) => reject(new DataError(`cannot run ${FFMPEG}: ${cause.message} (is ffmpeg installed? set TSM_FFMPEG)`, { cause })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new DataError(`ffmpeg exit ${code}: ${Buffer.concat(err).toString().trim().split('\n').slice(-2).join(' | ') || 'no message'}`));
    });
  });
}

/**
 * Extracts every video in `input` (a video file or a folder searched recursively) to
 * `outDir/<relative path without extension>/img_00001.jpg...`. A video whose frame folder exists is skipped;
 * leftovers of an interrupted run (`.<name>.tmp` folders) are replaced. A failed video is reported, not thrown.
 * @throws {UsageError} when `input` does not exist or an option is bad
 * @example const r = await extractFrames('videos/', 'frames/', { shortSide: 256, jobs: 4 });
 */
export async function extractFrames(input: string, outDir: string, opts: ExtractFramesOptions = {}): Promise<ExtractFramesResult> {
  if (!existsSync(input)) throw new UsageError(`input ${input} does not exist`);
  if (opts.height !== undefined && opts.shortSide !== undefined) throw new UsageError('pass either height or shortSide, not both', { options: ['height', 'shortSide'] });
  for (const [name, v] of [['height', opts.height], ['shortSide', opts.shortSide]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 2)) throw UsageError.expected(name, 'an integer >= 2', v);
  }
  // ffmpeg would fail on each video in turn
  if (opts.quality !== undefined && !(Number.isInteger(opts.quality) && opts.quality >= 1 && opts.quality <= 31)) {
    throw UsageError.expected('quality', 'an integer from 1 (best) to 31', opts.quality);
  }
  const tmpl = opts.imageTmpl ?? 'img_{:05d}.jpg';
  // checked here too, so that the error names this function's option
  if (countTemplateFields(tmpl) !== 1) throw UsageError.expected('imageTmpl', 'a template with one integer field such as img_{:05d}.jpg', tmpl);
  const pattern = templateToFfmpeg(tmpl);
  const isFile = (await stat(input)).isFile();
  const videos = isFile ? [input] : await findVideos(input);
  const base = isFile ? dirname(input) : input;
  const jobs = Math.max(1, opts.jobs ?? (await import('node:os')).availableParallelism());
  const done: { video: string; dir: string; frames: number }[] = [];
  const skipped: string[] = [];
  const failed: { video: string; error: string }[] = [];
  // folders made on the way to a video's temporary folder: a failed video leaves none of them behind
  const made = new Set<string>();
  let completed = 0;
  const report = (status: ExtractProgress['status'], video: string): void =>
    opts.onProgress?.({ status, video, completed: ++completed, total: videos.length });
  const one = async (video: string): Promise<void> => {
    const rel = relative(base, video);
    const dir = join(outDir, dirname(rel), basename(rel, extname(rel)));
    if (existsSync(dir)) {
      skipped.push(video);
      return report('skipped', video);
    }
    const tmp = join(dirname(dir), `.${basename(dir)}.tmp`);
    try {
      await rm(tmp, { recursive: true, force: true });
      const first = await mkdir(tmp, { recursive: true });
      if (first !== undefined && resolve(first) !== resolve(tmp)) {
        for (let d = resolve(dirname(tmp)); ; d = dirname(d)) {
          made.add(d);
          if (d === resolve(first) || d === dirname(d)) break;
        }
      }
      await ffmpegFrames(video, join(tmp, pattern), opts);
      const frames = (await readdir(tmp)).length;
      if (frames === 0) throw new DataError('ffmpeg wrote no frames');
      await rename(tmp, dir);
      done.push({ video, dir, frames });
      report('done', video);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      failed.push({ video, error: (err as Error).message });
      report('failed', video);
    }
  };
  const queue = [...videos];
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let v = queue.shift(); v !== undefined; v = queue.shift()) await one(v);
  }));
  // deepest first; rmdir keeps every folder that holds anything (the frames of another video)
  for (const d of [...made].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => undefined);
  return { done, skipped, failed };
}
