/**
 * `--weights NAME|URL|PATH`: turns a zoo name, a URL or a local path into a local file, downloading into the
 * cache when needed. Node only.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import { checkpointStem } from '../models/config.js';
import { defaultCacheDir } from './cache-dir.js';
import { downloadFile, type DownloadOptions } from './download.js';
import type { ProgressCallback } from './progress.js';
import { ZOO, type ZooEntry, findZooEntry } from './table.js';

/** Options of {@link resolveWeights}. */
export interface ResolveWeightsOptions {
  /** Where downloads go. @default defaultCacheDir(): `$TSM_CACHE`, else the platform cache folder */
  readonly cacheDir?: string;
  /** Receives `initiate`, `download`, `progress` and `done` events (none for a local path). */
  readonly onProgress?: ProgressCallback;
  /** The `fetch` to use. @default globalThis.fetch */
  readonly fetchImpl?: typeof fetch;
  /** Download again even when the file is cached. @default false */
  readonly force?: boolean;
  /** Automatic resumes after a dropped connection. @default 2 */
  readonly retries?: number;
  /** Wait before the first automatic resume, in ms. @default 1000 */
  readonly retryDelayMs?: number;
  /** Aborts a download; the `.part` file is kept for a later resume. */
  readonly signal?: AbortSignal;
  /** How long to wait for another process downloading the same file, in ms. @default 1800000 (30 minutes) */
  readonly lockWaitMs?: number;
  /** The table zoo names are looked up in. @default ZOO */
  readonly zoo?: readonly ZooEntry[];
}

/** What a weights spec names. */
export type WeightsSpec =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'zoo'; readonly entry: ZooEntry }
  | { readonly kind: 'url'; readonly url: string; readonly entry?: ZooEntry };

/** Path of a zoo file in the cache: `<cacheDir>/<file>`, so the file name still spells the model's config. */
export const zooCachePath = (entry: ZooEntry, cacheDir: string): string => join(cacheDir, entry.file);

/**
 * Path of a URL's file in the cache: `<cacheDir>/urls/<16 hex of sha256(url)>/<file name>`. The folder keeps two
 * URLs with the same file name apart; the file name is kept because it may spell the model's config.
 */
export function urlCachePath(url: string, cacheDir: string): string {
  const id = createHash('sha256').update(url).digest('hex').slice(0, 16);
  let file = '';
  try {
    file = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    // an undecodable name falls back to the default below
  }
  file = file.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return join(cacheDir, 'urls', id, file || 'download');
}

/**
 * Whether a zoo entry is in the cache (and has the size the table expects, when it knows it). Node only.
 * @param cacheDir @default defaultCacheDir()
 */
export async function isCached(entry: ZooEntry, cacheDir: string = defaultCacheDir()): Promise<boolean> {
  return (await cachedFile(zooCachePath(entry, cacheDir), entry.size)) !== undefined;
}

/**
 * Says what a weights spec names, without touching the network: an existing file, a zoo name (with or without
 * `.pth`), or an `http(s)://` URL (`file://` URLs are paths). A URL that is one of a zoo entry's URLs carries
 * that entry, so its size and hash are checked and it shares the zoo's cache file. Node only.
 * @throws {UsageError} for a folder, or for a spec that is none of these (the message lists the zoo names)
 */
export async function classifyWeightsSpec(spec: string, zoo: readonly ZooEntry[] = ZOO): Promise<WeightsSpec> {
  if (/^https?:\/\//i.test(spec)) {
    return { kind: 'url', url: spec, entry: zoo.find((e) => e.urls.includes(spec)) };
  }
  const path = /^file:\/\//i.test(spec) ? fileURLToPath(spec) : spec;
  const st = await stat(path).catch(() => undefined);
  if (st?.isFile()) return { kind: 'path', path: resolve(path) };
  if (st?.isDirectory()) throw new UsageError(`weights "${spec}" is a folder; expected a checkpoint file, a URL or a zoo name`);
  const entry = findZooEntry(spec, zoo);
  if (entry && !/[\\/]/.test(spec)) return { kind: 'zoo', entry };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw new UsageError(`unsupported URL scheme in weights "${spec}"; expected http://, https:// or file://`);
  }
  throw new UsageError(
    `weights "${spec}" is not a file, a URL or a zoo name: no such file ${resolve(path)}. ` +
      `Zoo names are [${zoo.map((e) => e.name).join(', ')}] (see \`tsm zoo\`)`,
  );
}

/**
 * Resolves `--weights NAME|URL|PATH` to a local file. A path is returned as is (made absolute). A zoo name or a
 * URL is looked up in the cache folder and downloaded there when missing (resumable, checked, moved into place
 * atomically, see {@link downloadFile}). A cached file is returned without any network access, so a machine
 * offline works with what it has. Node only.
 * @param spec a zoo name (`TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50`, `.pth` optional), an
 *   `http(s)://` URL, or a path
 * @returns the absolute path of the local file
 * @throws {UsageError} when `spec` is none of the three
 * @throws {DownloadError} when a download fails (the message names the URL and the problem)
 * @example
 * const path = await resolveWeights('TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_segment8_e100_dense', {
 *   onProgress: (e) => { if (e.status === 'progress') bar.update(e.loaded); },
 * });
 */
export async function resolveWeights(spec: string, opts: ResolveWeightsOptions = {}): Promise<string> {
  const what = await classifyWeightsSpec(spec, opts.zoo ?? ZOO);
  if (what.kind === 'path') return what.path;
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const entry = what.entry;
  const url = what.kind === 'url' ? what.url : undefined;
  // A URL spec is tried first, then the other hosts of its zoo entry.
  const urls = [...(url ? [url] : []), ...(entry?.urls ?? []).filter((u) => u !== url)];
  const dest = entry ? zooCachePath(entry, cacheDir) : urlCachePath(urls[0], cacheDir);
  const name = entry ? entry.name : checkpointStem(dest);
  return ensureCached({ name, urls, size: entry?.size, sha256: entry?.sha256 }, dest, opts);
}

/** A file to keep in the cache. */
export interface CacheItem {
  /** Name in progress events. */
  readonly name: string;
  /** Where to fetch it, tried in order. */
  readonly urls: readonly string[];
  readonly size?: number;
  readonly sha256?: string;
}

/**
 * Returns `dest` when it is there (emitting `initiate` and a cached `done`), else downloads it there. Touches
 * the network only when the file is missing (or `opts.force`). When another process is downloading the same file,
 * waits for it (a `wait` event) and returns its file. Node only.
 * @throws {DownloadError} when the download fails
 */
export async function ensureCached(item: CacheItem, dest: string, opts: ResolveWeightsOptions = {}): Promise<string> {
  const file = basename(dest);
  opts.onProgress?.({ status: 'initiate', name: item.name, file });
  if (!opts.force && (await cachedFile(dest, item.size)) !== undefined) {
    opts.onProgress?.({ status: 'done', name: item.name, file, path: dest, cached: true });
    return dest;
  }
  const download: DownloadOptions = {
    name: item.name,
    size: item.size,
    sha256: item.sha256,
    onProgress: opts.onProgress,
    fetchImpl: opts.fetchImpl,
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs,
    signal: opts.signal,
    lockWaitMs: opts.lockWaitMs,
    // Another process may have finished this file while this one waited for it.
    reuseExisting: !opts.force,
  };
  return (await downloadFile(item.urls, dest, download)).path;
}

/** The file's size when it exists (and has `size` bytes, when given). */
async function cachedFile(path: string, size: number | undefined): Promise<number | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile() || (size !== undefined && st.size !== size)) return undefined;
  return st.size;
}
