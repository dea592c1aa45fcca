/**
 * `tsm extract-frames VIDEOS OUT [--short-side 256 | --height 331] [--tmpl img_{:05d}.jpg] [--jobs N]`: videos to
 * frame folders with ffmpeg (the original's tools/vid2img_*.py). Resumable; failed videos are listed and exit 1.
 */
import type { Command } from 'commander';
import { DataError } from '../../errors.js';
import { extractFrames, type ExtractFramesOptions } from '../../data/index.js';
import { addSnakeAliases, intFlag, mergeSnakeAliases, progressBar } from './data-common.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { aliasOptions } from '../option-flags.js';

interface ExtractFlags {
  readonly tmpl: string;
  readonly height?: string;
  readonly shortSide?: string;
  readonly quality: string;
  readonly jobs?: string;
}

/** Checks the flags; throws a UsageError naming the flag. */
export function parseExtractFlags(flags: ExtractFlags): ExtractFramesOptions {
  return {
    imageTmpl: flags.tmpl,
    height: intFlag('--height', flags.height, 2),
    shortSide: intFlag('--short-side', flags.shortSide, 2),
    quality: intFlag('--quality', flags.quality, 1),
    jobs: intFlag('--jobs', flags.jobs, 1),
  };
}

/** Registers `tsm extract-frames`. */
export const registerExtractFrames: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('extract-frames')
    .description('Extract video frames to folders with ffmpeg (resumable; a failed video leaves no half folder)')
    .argument('<videos>', 'a video file, or a folder searched recursively for videos')
    .argument('<out>', 'output root: <out>/<relative path without extension>/img_00001.jpg ...')
    .option('--tmpl <template>', 'frame-name template ({:06d}.jpg for Something-Something v2)', 'img_{:05d}.jpg')
    .option('--height <px>', "scale to this height (the original's scale=-1:H: 331 Kinetics, 256 sth-v2)")
    .option('--short-side <px>', 'scale so the shorter side is this many pixels')
    .option('--quality <q>', 'JPEG quality for ffmpeg -q:v, 1 (best) to 31', '2')
    .option('--jobs <n>', 'videos extracted in parallel (default: CPU count)');
  aliasOptions(cmd, { imageTmpl: '--tmpl' });
  addSnakeAliases(cmd, ['short-side <px>']).action(async (videos: string, out: string, raw: ExtractFlags) => {
    const opts = parseExtractFlags(mergeSnakeAliases({ ...raw }));
    await checkOutputPath(out, { kind: 'folder', flag: '<out>' });
    const bar = progressBar('extract');
    const r = await extractFrames(videos, out, { ...opts, onProgress: (e) => bar.update(e.completed, e.total) });
    bar.stop();
    process.stdout.write(`extracted ${r.done.length} videos, skipped ${r.skipped.length} already done, ${r.failed.length} failed\n`);
    for (const f of r.failed) process.stderr.write(`failed: ${f.video}: ${f.error}\n`);
    const n = r.failed.length;
    if (n > 0) {
      const which = n === 1 ? `1 video failed to extract: ${r.failed[0].video}` : `${n} videos failed to extract, the first ${r.failed[0].video}`;
      throw new DataError(`${which} (ffmpeg's reason above); run again to retry ${n === 1 ? 'it' : 'them'}`);
    }
  });
};
