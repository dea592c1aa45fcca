/**
 * `tsm zoo [--json]` lists the released checkpoints (and whether each is cached); `tsm zoo download NAME...`
 * fetches them into the cache with a progress bar.
 */
import { stat } from 'node:fs/promises';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import {
  ZOO,
  ZOO_DATASETS,
  defaultCacheDir,
  describeProtocol,
  isCached,
  resolveWeights,
  zooCachePath,
  type ProgressCallback,
  type ZooEntry,
} from '../../zoo/index.js';
import { UsageError } from '../../errors.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { describeWait } from './weights.js';

interface ZooFlags {
  readonly json?: boolean;
  readonly cacheDir?: string;
}

interface DownloadFlags {
  readonly cacheDir?: string;
  readonly force?: boolean;
}

/** One zoo row as `tsm zoo --json` prints it. */
export interface ZooListing {
  readonly name: string;
  readonly file: string;
  readonly dataset: string;
  readonly numClass: number;
  readonly arch: string;
  readonly modality: string;
  /** Frames of the first reported result (what the README tested with), else the trained segment count. */
  readonly frames: number;
  readonly top1: number | null;
  readonly top5: number | null;
  readonly results: readonly { readonly top1: number; readonly top5: number | null; readonly protocol: string; readonly testArgs: string }[];
  readonly title: string;
  readonly table: string;
  readonly urls: readonly string[];
  readonly cached: boolean;
  readonly path: string;
  readonly note: string | null;
}

/** The zoo with each entry's cache state. */
export async function listZoo(cacheDir: string): Promise<ZooListing[]> {
  return Promise.all(
    ZOO.map(async (e: ZooEntry) => {
      const first = e.results[0];
      return {
        name: e.name,
        file: e.file,
        dataset: e.dataset,
        numClass: e.numClass,
        arch: e.config.arch,
        modality: e.config.modality,
        frames: first?.protocol.segments ?? e.config.numSegments,
        top1: first?.top1 ?? null,
        top5: first?.top5 ?? null,
        results: e.results.map((r) => ({
          top1: r.top1,
          top5: r.top5 ?? null,
          protocol: describeProtocol(r.protocol),
          testArgs: r.protocol.testArgs,
        })),
        title: e.title,
        table: e.table,
        urls: e.urls,
        cached: await isCached(e, cacheDir),
        path: zooCachePath(e, cacheDir),
        note: e.note ?? null,
      };
    }),
  );
}

/** Text table: name, dataset, frames, arch, top-1 (with its clips×crops), cached. */
function formatZoo(rows: readonly ZooListing[], cacheDir: string): string {
  const head = ['NAME', 'DATASET', 'FRAMES', 'ARCH', 'TOP-1', 'CLIPSxCROPS', 'CACHED'];
  const body = rows.map((r) => {
    const e = ZOO.find((z) => z.name === r.name) as ZooEntry;
    const p = e.results[0]?.protocol;
    return [
      r.name,
      ZOO_DATASETS[e.dataset].title,
      e.config.kind === 'online' ? 'online' : String(r.frames),
      `${r.arch}${r.modality === 'RGB' ? '' : ` ${r.modality}`}`,
      r.top1 === null ? '-' : `${r.top1.toFixed(1)}%`,
      p ? `${p.clips}x${p.crops}` : '-',
      r.cached ? 'yes' : 'no',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), ...body.map(line), '', `cache: ${cacheDir} (set TSM_CACHE to move it)`, ''].join('\n');
}

/**
 * A download progress bar on stderr, drawn from {@link ProgressCallback} events (nothing is drawn when stderr is
 * not a terminal; a line per file is printed instead).
 */
export function downloadProgressBar(stream: NodeJS.WriteStream = process.stderr): { onProgress: ProgressCallback; stop(): void } {
  const bar = new SingleBar({
    format: '{name} [{bar}] {percentage}% | {loadedMB}/{totalMB} MB | ETA {eta_formatted}',
    stream,
    hideCursor: true,
    barsize: 30,
  });
  let active = false;
  const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
  const stop = (): void => {
    if (active) bar.stop();
    active = false;
  };
  const onProgress: ProgressCallback = (e) => {
    if (e.status === 'wait') {
      stream.write(`${describeWait(e)}\n`);
    } else if (e.status === 'download') {
      if (!stream.isTTY) stream.write(`downloading ${e.url}${e.resumeFrom > 0 ? ` (resuming at ${e.resumeFrom} bytes)` : ''}\n`);
    } else if (e.status === 'progress') {
      const total = e.total ?? 0;
      const payload = { name: e.name.length > 40 ? `${e.name.slice(0, 39)}…` : e.name, loadedMB: mb(e.loaded), totalMB: e.total === undefined ? '?' : mb(total) };
      if (!active) {
        bar.start(Math.max(total, e.loaded, 1), e.loaded, payload);
        active = true;
      }
      if (e.total === undefined) bar.setTotal(Math.max(e.loaded, 1));
      bar.update(e.loaded, payload);
    } else if (e.status === 'done') {
      stop();
    }
  };
  return { onProgress, stop };
}

/** The cache folder and how the user gave it, for messages: `--cache-dir`, `$TSM_CACHE` or the default. */
function cacheDirOf(flags: { readonly cacheDir?: string }): { dir: string; flag: string } {
  if (flags.cacheDir !== undefined) return { dir: flags.cacheDir, flag: '--cache-dir' };
  return { dir: defaultCacheDir(), flag: process.env.TSM_CACHE ? '$TSM_CACHE' : 'the cache folder' };
}

/** Registers `tsm zoo` and `tsm zoo download`. */
export const registerZoo: RegisterCommand = (program: Command) => {
  const zoo = program
    .command('zoo')
    .description('List the released TSM/TSN checkpoints (README model zoo) and whether each is in the cache')
    .option('--json', 'print JSON (all results, URLs, cache paths) instead of a table')
    .option('--cache-dir <dir>', 'cache folder (default: $TSM_CACHE, else the platform cache folder)')
    .action(async (flags: ZooFlags) => {
      const { dir: cacheDir, flag } = cacheDirOf(flags);
      // a file there would list every checkpoint as not cached
      if ((await stat(cacheDir).catch(() => undefined))?.isFile()) throw new UsageError(`${flag} ${cacheDir} is a file; pass a folder`);
      const rows = await listZoo(cacheDir);
      process.stdout.write(flags.json ? `${JSON.stringify(rows, null, 2)}\n` : formatZoo(rows, cacheDir));
    });
  zoo
    .command('download')
    .description('Download zoo checkpoints (or URLs) into the cache; resumes an interrupted download. Prints each path')
    .argument('<name...>', 'zoo names (see `tsm zoo`), with or without .pth, or URLs')
    .option('--cache-dir <dir>', 'cache folder (default: $TSM_CACHE, else the platform cache folder)')
    .option('--force', 'download again even when cached')
    .action(async (names: string[], _flags: DownloadFlags, cmd: Command) => {
      // `zoo download X --cache-dir D` hands D to the parent `zoo`, which has the same flag
      const flags = cmd.optsWithGlobals<DownloadFlags>();
      const { dir: cacheDir, flag } = cacheDirOf(flags);
      // before any download starts, not once the bytes have arrived
      await checkOutputPath(cacheDir, { kind: 'folder', flag });
      for (const name of names) {
        const bar = downloadProgressBar();
        let cached = false;
        try {
          const path = await resolveWeights(name, {
            cacheDir,
            force: flags.force,
            onProgress: (e) => {
              if (e.status === 'done') cached = e.cached;
              bar.onProgress(e);
            },
          });
          if (cached) process.stderr.write(`${name}: already cached\n`);
          process.stdout.write(`${path}\n`);
        } finally {
          bar.stop();
        }
      }
    });
};
