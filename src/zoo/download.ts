/**
 * Downloads one file into place: resumable through `<file>.part` and HTTP Range requests, checked against the
 * size and sha256 when they are known, and moved into place with one rename. Node only.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { DownloadError, type DownloadFailure } from './download-error.js';
import type { ProgressCallback } from './progress.js';

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** Name in progress events. @default the file name of `dest` */
  readonly name?: string;
  /** Expected size in bytes; a different size fails the download. */
  readonly size?: number;
  /** Expected sha256: 64 hex digits, or a prefix of at least 8 (as in torchvision's `resnet50-0676ba61.pth`). */
  readonly sha256?: string;
  /** Receives `download`, `progress` and `done` events. */
  readonly onProgress?: ProgressCallback;
  /** The `fetch` to use (a proxy-aware one, or a stub in tests). @default globalThis.fetch */
  readonly fetchImpl?: typeof fetch;
  /** How many times a dropped connection is resumed automatically before giving up. @default 2 */
  readonly retries?: number;
  /** Wait before the first automatic resume, doubled for each next one, in ms. @default 1000 */
  readonly retryDelayMs?: number;
  /** Aborts the download; the `.part` file is kept for a later resume. */
  readonly signal?: AbortSignal;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  /** `dest`, now holding the complete file. */
  readonly path: string;
  readonly size: number;
  /** sha256 of the whole file, hex. */
  readonly sha256: string;
  /** The URL that served it. */
  readonly url: string;
  /** Bytes that were already in `<file>.part` when the last request went out (0 for a fresh download). */
  readonly resumedFrom: number;
}

/** Failures after which the next mirror is worth trying: the file never started arriving from this one. */
const TRY_NEXT_URL: ReadonlySet<DownloadFailure> = new Set(['http', 'network', 'content', 'dropped']);

/**
 * Downloads `url` (or the first of `urls` that works) to `dest`. Bytes go to `dest + '.part'` first; when that
 * file exists from an interrupted run, the download resumes with `Range: bytes=N-` (a server that ignores the
 * range and answers 200 is handled by starting over). The size is checked against `Content-Length` /
 * `Content-Range` and `opts.size`, the sha256 against `opts.sha256`, and only then is the file renamed to `dest`,
 * so `dest` never holds a partial or wrong file. A size or hash mismatch deletes the `.part` file; a dropped
 * connection keeps it. Node only.
 * @param urls one URL, or mirrors tried in order until one serves the file
 * @param dest final path; its folder is created
 * @returns where the file is, its size and sha256
 * @throws {DownloadError} `reason` says what failed: `http` (status), `network`, `dropped` (re-running resumes),
 *   `size`, `hash`, `content` (an HTML page), `io`
 * @example
 * await downloadFile('https://download.pytorch.org/models/resnet18-f37072fd.pth', '/tmp/resnet18.pth', {
 *   sha256: 'f37072fd', onProgress: (e) => e.status === 'progress' && console.log(e.loaded, e.total),
 * });
 */
export async function downloadFile(
  urls: string | readonly string[],
  dest: string,
  opts: DownloadOptions = {},
): Promise<DownloadResult> {
  const list = typeof urls === 'string' ? [urls] : urls;
  if (list.length === 0) throw new DownloadError('network', '', `no URL to download ${basename(dest)} from`);
  if (opts.sha256 !== undefined && !/^[0-9a-f]{8,64}$/i.test(opts.sha256)) {
    throw new TypeError(`Expected 8 to 64 hex digits for sha256 but received ${JSON.stringify(opts.sha256)}`);
  }
  await io(list[0], `create the folder ${dirname(dest)}`, () => mkdir(dirname(dest), { recursive: true }));
  const retries = opts.retries ?? 2;
  const failures: DownloadError[] = [];
  for (const url of list) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await attempt1(url, dest, opts, true);
      } catch (err) {
        if (!(err instanceof DownloadError)) throw err;
        if (err.reason === 'dropped' && attempt < retries) {
          await sleep((opts.retryDelayMs ?? 1000) * 2 ** attempt, opts.signal);
          continue;
        }
        if (!TRY_NEXT_URL.has(err.reason)) throw err;
        failures.push(err);
        break;
      }
    }
  }
  if (failures.length === 1) throw failures[0];
  const part = `${dest}.part`;
  const kept = await sizeOf(part);
  const dropped = failures.find((f) => f.reason === 'dropped');
  const last = failures[failures.length - 1];
  throw new DownloadError(
    dropped ? 'dropped' : failures[0].reason,
    last.url,
    `could not download ${basename(dest)} from any of its ${failures.length} URLs:\n` +
      failures.map((f) => `  - ${f.message}`).join('\n') +
      (kept ? `\n${kept} bytes are kept in ${part}; re-running resumes from there` : ''),
    { status: failures[0].status, cause: failures[0] },
  );
}

/** One request to one URL. `mayRestart`: a confused resume (bad 206, 416) deletes the part and starts over once. */
async function attempt1(url: string, dest: string, opts: DownloadOptions, mayRestart: boolean): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const file = basename(dest);
  const name = opts.name ?? file;
  const emit = opts.onProgress ?? (() => {});
  let offset = (await sizeOf(part)) ?? 0;
  if (opts.size !== undefined && offset > opts.size) {
    await removeFile(part);
    offset = 0;
  }
  const restart = async (): Promise<DownloadResult> => {
    await removeFile(part);
    return attempt1(url, dest, opts, false);
  };

  emit({ status: 'download', name, file, url, resumeFrom: offset });
  // NOTE: identity encoding, so Content-Length and Range count the file's own bytes, not gzip's.
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  let res: Response;
  try {
    res = await (opts.fetchImpl ?? fetch)(url, { headers, signal: opts.signal, redirect: 'follow' });
  } catch (cause) {
    if (opts.signal?.aborted) throw cause;
    throw new DownloadError('network', url, `cannot reach ${url}: ${describeCause(cause)}`, { cause });
  }

  if (res.status === 416 && offset > 0) {
    // Range Not Satisfiable: the part may already be whole (a run killed between the last byte and the rename).
    await res.body?.cancel();
    const range = parseContentRange(res.headers.get('content-range'));
    if (range?.total === offset && (opts.size === undefined || opts.size === offset)) {
      return finish(url, dest, opts, offset, offset, await hashFile(part, createHash('sha256')));
    }
    if (mayRestart) return restart();
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    const hint = res.status === 404 || res.status === 410 ? ' (the file is gone from this host)' : '';
    throw new DownloadError('http', url, `${url} answered HTTP ${res.status} ${res.statusText}${hint}`, { status: res.status });
  }
  const type = res.headers.get('content-type') ?? '';
  if (/^text\/html\b/i.test(type)) {
    await res.body?.cancel();
    throw new DownloadError('content', url, `${url} sent an HTML page (Content-Type: ${type}) instead of a checkpoint; the host may have moved the file`);
  }

  const length = contentLength(res);
  let start = 0;
  let total: number | undefined;
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || range.start !== offset) {
      await res.body?.cancel();
      if (mayRestart) return restart();
      throw new DownloadError('size', url, `${url} answered a request for bytes ${offset}- with Content-Range "${res.headers.get('content-range')}"`);
    }
    start = offset;
    total = range.total ?? (length === undefined ? undefined : offset + length);
  } else {
    total = length; // 200: the server ignored Range (or none was sent); start over
  }
  if (opts.size !== undefined && total !== undefined && total !== opts.size) {
    await res.body?.cancel();
    await removeFile(part);
    throw new DownloadError('size', url, `${url} serves ${total} bytes, but ${file} should be ${opts.size} bytes; the file on the server is not the expected one`);
  }
  const announced = total !== undefined;
  total ??= opts.size;

  const hash = createHash('sha256');
  if (start > 0) await hashFile(part, hash);
  let loaded = start;
  const fh = await io(url, `open ${part}`, () => open(part, start > 0 ? 'a' : 'w'));
  emit({ status: 'progress', name, file, loaded, total, progress: percent(loaded, total) });
  try {
    if (res.body) {
      for await (const chunk of res.body) {
        await io(url, `write ${part}`, () => fh.write(chunk));
        hash.update(chunk);
        loaded += chunk.byteLength;
        emit({ status: 'progress', name, file, loaded, total, progress: percent(loaded, total) });
        if (total !== undefined && loaded > total) break;
      }
    }
  } catch (cause) {
    if (cause instanceof DownloadError || opts.signal?.aborted) throw cause;
    throw dropped(url, part, loaded, total, cause);
  } finally {
    await fh.close();
  }
  if (total !== undefined && loaded < total) throw dropped(url, part, loaded, total, undefined);
  if (total !== undefined && loaded > total) {
    await removeFile(part);
    const limit = announced ? `the ${total} bytes it announced for ${file}` : `the ${total} bytes ${file} should have`;
    throw new DownloadError('size', url, `${url} sent more than ${limit}; deleted the download, re-running fetches it again`);
  }
  return finish(url, dest, opts, loaded, start, hash.digest('hex'));
}

/** Checks the whole `.part` file against the expected size and hash, then renames it to `dest`. */
async function finish(
  url: string,
  dest: string,
  opts: DownloadOptions,
  size: number,
  resumedFrom: number,
  sha256: string,
): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const file = basename(dest);
  if (opts.size !== undefined && size !== opts.size) {
    await removeFile(part);
    throw new DownloadError('size', url, `${file} from ${url} is ${size} bytes, expected ${opts.size}; deleted the download, re-running fetches it again`);
  }
  if (opts.sha256 !== undefined && !sha256.startsWith(opts.sha256.toLowerCase())) {
    await removeFile(part);
    throw new DownloadError(
      'hash',
      url,
      `sha256 of ${file} from ${url} is ${sha256}, expected ${opts.sha256.toLowerCase()}${opts.sha256.length < 64 ? '…' : ''}: ` +
        'the download is corrupt or the server has a different file; deleted it, re-running downloads it again',
    );
  }
  await io(url, `move ${part} to ${dest}`, () => rename(part, dest));
  opts.onProgress?.({ status: 'done', name: opts.name ?? file, file, path: dest, cached: false });
  return { path: dest, size, sha256, url, resumedFrom };
}

function dropped(url: string, part: string, loaded: number, total: number | undefined, cause: unknown): DownloadError {
  const why = cause === undefined ? 'the server closed the connection' : describeCause(cause);
  return new DownloadError(
    'dropped',
    url,
    `connection to ${url} dropped after ${loaded} of ${total ?? 'an unknown number of'} bytes (${why}); ` +
      `the bytes so far are kept in ${part}: re-run to resume`,
    { cause },
  );
}

/** Parses `bytes 100-199/200` to {start: 100, total: 200}; the unsatisfied form (star, slash, total) has no start. */
function parseContentRange(value: string | null): { start?: number; total?: number } | undefined {
  const m = value ? /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(value.trim()) : null;
  if (!m) return undefined;
  return { start: m[1] === undefined ? undefined : Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}

/** Content-Length when it counts the file's bytes (absent or meaningless under a content encoding). */
function contentLength(res: Response): number | undefined {
  const enc = res.headers.get('content-encoding');
  if (enc && enc !== 'identity') return undefined;
  const v = res.headers.get('content-length');
  return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
}

const percent = (loaded: number, total: number | undefined): number | undefined =>
  total ? Math.min(100, (loaded / total) * 100) : undefined;

/** Feeds a file's bytes into `hash` and returns the digest so far; `hash` stays usable for more bytes. */
async function hashFile(path: string, hash: Hash): Promise<string> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.copy().digest('hex');
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

const removeFile = (path: string): Promise<void> => rm(path, { force: true });

/** Runs a file-system step; its failure becomes a `DownloadError` with reason `io`. */
async function io<T>(url: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    throw new DownloadError('io', url, `cannot ${what}: ${describeCause(cause)}`, { cause });
  }
}

/** undici hides the socket error in `cause` ("fetch failed" → "connect ECONNREFUSED 127.0.0.1:9"). */
function describeCause(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = e.cause) {
    if (!parts.includes(e.message)) parts.push(e.message);
  }
  return parts.length ? parts.join(': ') : String(err);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}
