/**
 * Downloads one file into place: one process at a time per file (a lock file next to it), resumable through
 * `<file>.part` and conditional HTTP Range requests, checked against the size and sha256 when they are known, and
 * moved into place with one rename. Node only.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { LockError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { type FileLock, acquireFileLock } from '../util/file-lock.js';
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
  /** Receives `wait`, `download`, `progress` and `done` events. */
  readonly onProgress?: ProgressCallback;
  /** The `fetch` to use (a proxy-aware one, or a stub in tests). @default globalThis.fetch */
  readonly fetchImpl?: typeof fetch;
  /** How many times a dropped connection is resumed automatically before giving up. @default 2 */
  readonly retries?: number;
  /** Wait before the first automatic resume, doubled for each next one, in ms. @default 1000 */
  readonly retryDelayMs?: number;
  /** Aborts the download (or the wait for another process's); the `.part` file is kept for a later resume. */
  readonly signal?: AbortSignal;
  /**
   * How long to wait for another process that is downloading the same `dest`, in ms. A process that dies is not
   * waited for: its download is taken over at once (same host) or after 5 minutes without news (another host).
   * @default 1800000 (30 minutes)
   */
  readonly lockWaitMs?: number;
  /**
   * Use a `dest` that exists once this process may write it (another process finished it while this one waited)
   * when it has the expected size and sha256, instead of downloading it again. @default false
   */
  readonly reuseExisting?: boolean;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  /** `dest`, now holding the complete file. */
  readonly path: string;
  readonly size: number;
  /** sha256 of the whole file, hex. */
  readonly sha256: string;
  /** The URL that served it (the first URL when another process downloaded it). */
  readonly url: string;
  /** Bytes that were already in `<file>.part` when the last request went out (0 for a fresh download). */
  readonly resumedFrom: number;
  /** True when nothing was fetched: another process had just downloaded `dest` (see `reuseExisting`). */
  readonly cached: boolean;
}

/** Failures after which the next mirror is worth trying: the file never started arriving from this one. */
const TRY_NEXT_URL: ReadonlySet<DownloadFailure> = new Set(['http', 'network', 'content', 'dropped']);

const DEFAULT_LOCK_WAIT_MS = 30 * 60_000;

/**
 * Downloads `url` (or the first of `urls` that works) to `dest`. One process at a time downloads a given `dest`:
 * the others wait for it (an `onProgress` `wait` event names its pid) and then, with `reuseExisting`, use its
 * file. Bytes go to `dest + '.part'` first. When that file exists from an interrupted run, the download resumes
 * with `Range: bytes=N-` and `If-Range` set to the ETag (or Last-Modified) the server sent when the `.part` began,
 * so a file that changed on the server meanwhile is fetched whole (the server answers 200) instead of being
 * spliced; a `.part` begun without either validator is not resumed. The size is checked against
 * `Content-Length` / `Content-Range` and `opts.size`, the sha256 against `opts.sha256`, and only then is the file
 * renamed to `dest`, so `dest` never holds a partial or wrong file. A size or hash mismatch deletes the `.part`
 * file; a dropped connection keeps it. Node only.
 * @param urls one URL, or mirrors tried in order until one serves the file
 * @param dest final path; its folder is created
 * @returns where the file is, its size and sha256
 * @throws {DownloadError} `reason` says what failed: `http` (status), `network`, `dropped` (re-running resumes),
 *   `size`, `hash`, `content` (an HTML page), `io`, `locked` (another process kept downloading it longer than
 *   `lockWaitMs`)
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
  const lock = await lockDownload(list[0], dest, opts);
  try {
    const existing = opts.reuseExisting ? await checkedExisting(list[0], dest, opts) : undefined;
    if (existing) {
      opts.onProgress?.({ status: 'done', name: opts.name ?? basename(dest), file: basename(dest), path: dest, cached: true });
      return existing;
    }
    return await downloadFromMirrors(list, dest, opts);
  } finally {
    await lock.release();
  }
}

/** Takes `<dest>.lock`, waiting for another process that holds it. */
async function lockDownload(url: string, dest: string, opts: DownloadOptions): Promise<FileLock> {
  const file = basename(dest);
  const waitMs = opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  try {
    return await acquireFileLock(`${dest}.lock`, {
      purpose: `download of ${file}`,
      waitMs,
      signal: opts.signal,
      onWait: (h) => opts.onProgress?.({ status: 'wait', name: opts.name ?? file, file, pid: h.pid, hostname: h.hostname }),
    });
  } catch (cause) {
    if (cause instanceof LockError) {
      const who = cause.holder ? `pid ${cause.holder.pid} on ${cause.holder.hostname}` : 'another process';
      throw new DownloadError(
        'locked',
        url,
        `${who} has been downloading ${file} into ${dirname(dest)} for longer than ${Math.round(waitMs / 1000)} s of waiting; ` +
          `re-run once it has finished (or delete ${dest}.lock if no such process exists)`,
        { cause },
      );
    }
    if (opts.signal?.aborted) throw cause;
    throw new DownloadError('io', url, `cannot create the lock file ${dest}.lock: ${describeCause(cause)}`, { cause });
  }
}

/** `dest` when it exists with the expected size and sha256 (a file another process just downloaded). */
async function checkedExisting(url: string, dest: string, opts: DownloadOptions): Promise<DownloadResult | undefined> {
  const size = await sizeOf(dest);
  if (size === undefined || (opts.size !== undefined && size !== opts.size)) return undefined;
  const sha256 = await hashFile(dest, createHash('sha256'));
  if (opts.sha256 !== undefined && !sha256.startsWith(opts.sha256.toLowerCase())) return undefined;
  return { path: dest, size, sha256, url, resumedFrom: 0, cached: true };
}

/** Tries each URL in turn (resuming dropped connections up to `retries` times); one error naming them all. */
async function downloadFromMirrors(list: readonly string[], dest: string, opts: DownloadOptions): Promise<DownloadResult> {
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
  const part = partPath(dest);
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

/**
 * What `<file>.part.json` records about the `.part` next to it, written before its first byte: where it came
 * from and the validators that say whether the server still has the same file.
 */
interface PartMeta {
  readonly url: string;
  /** A strong ETag (weak ones may not be used in If-Range). */
  readonly etag?: string;
  /** Last-Modified, when it is a strong validator (at least a second older than the response's Date). */
  readonly lastModified?: string;
  /** The whole file's size, when the server said it. */
  readonly total?: number;
}

const partPath = (dest: string): string => `${dest}.part`;
const metaPath = (dest: string): string => `${dest}.part.json`;

/** Deletes the `.part` and what it records. */
async function discardPart(dest: string): Promise<void> {
  await rm(partPath(dest), { force: true });
  await rm(metaPath(dest), { force: true });
}

/** Where a request starts: `offset` bytes of `.part` are kept when `validator` can check they still fit. */
interface ResumePoint {
  readonly offset: number;
  /** The value for `If-Range`. */
  readonly validator?: string;
  /** The whole file's size when the `.part` began. */
  readonly total?: number;
}

/**
 * Decides whether the `.part` can be resumed from `url`: it must have been begun from the same URL with an ETag
 * or Last-Modified, and not be longer than the file. Anything else is deleted and the download starts over.
 */
async function resumePoint(url: string, dest: string, size: number | undefined): Promise<ResumePoint> {
  const offset = (await sizeOf(partPath(dest))) ?? 0;
  if (offset === 0) return { offset: 0 };
  const meta = await readPartMeta(dest);
  const validator = meta?.url === url ? (meta.etag ?? meta.lastModified) : undefined;
  const tooLong = (size !== undefined && offset > size) || (meta?.total !== undefined && offset > meta.total);
  if (validator === undefined || tooLong) {
    await discardPart(dest);
    return { offset: 0 };
  }
  return { offset, validator, total: meta?.total };
}

async function readPartMeta(dest: string): Promise<PartMeta | undefined> {
  try {
    const v = JSON.parse(await readFile(metaPath(dest), 'utf8')) as PartMeta;
    return typeof v.url === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The validators of a 200 response, to be recorded before the `.part` gets its first byte. */
function partMetaOf(url: string, res: Response, total: number | undefined): PartMeta {
  const etag = res.headers.get('etag') ?? undefined;
  const lastModified = res.headers.get('last-modified') ?? undefined;
  const date = res.headers.get('date');
  // RFC 9110 13.1.5: If-Range takes a strong ETag, or a date only when there is no ETag and it is strong.
  const strongEtag = etag && !etag.startsWith('W/') ? etag : undefined;
  const strongDate = lastModified && (date === null || Date.parse(date) - Date.parse(lastModified) >= 1000) ? lastModified : undefined;
  return { url, ...(strongEtag ? { etag: strongEtag } : strongDate ? { lastModified: strongDate } : {}), ...(total !== undefined ? { total } : {}) };
}

/** One request to one URL. `mayRestart`: a confused resume (bad 206, 416) deletes the part and starts over once. */
async function attempt1(url: string, dest: string, opts: DownloadOptions, mayRestart: boolean): Promise<DownloadResult> {
  const file = basename(dest);
  const from = await resumePoint(url, dest, opts.size);
  opts.onProgress?.({ status: 'download', name: opts.name ?? file, file, url, resumeFrom: from.offset });
  const res = await request(url, from, opts);
  const body = await readHead(res, url, dest, from, opts);
  if (body.kind === 'whole') return finish(url, dest, opts, from.offset, from.offset, await hashFile(partPath(dest), createHash('sha256')));
  if (body.kind === 'restart') {
    await discardPart(dest);
    if (mayRestart) return attempt1(url, dest, opts, false);
    throw body.error;
  }
  if (body.start === 0) {
    // NOTE: old bytes go before the new validators are recorded, so a kill in between cannot pair them.
    await discardPart(dest);
    const meta = partMetaOf(url, res, body.total);
    await io(url, `write ${metaPath(dest)}`, () => writeFileAtomic(metaPath(dest), `${JSON.stringify(meta)}\n`));
  }
  const { loaded, sha256 } = await receiveBody(res, url, dest, body, opts);
  return finish(url, dest, opts, loaded, body.start, sha256);
}

/** Sends the request, ranged and conditional when resuming. */
async function request(url: string, from: ResumePoint, opts: DownloadOptions): Promise<Response> {
  // NOTE: identity encoding, so Content-Length and Range count the file's own bytes, not gzip's.
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (from.offset > 0 && from.validator !== undefined) {
    headers.range = `bytes=${from.offset}-`;
    headers['if-range'] = from.validator;
  }
  try {
    return await (opts.fetchImpl ?? fetch)(url, { headers, signal: opts.signal, redirect: 'follow' });
  } catch (cause) {
    if (opts.signal?.aborted) throw cause;
    throw new DownloadError('network', url, `cannot reach ${url}: ${describeCause(cause)}`, { cause });
  }
}

/** What a response's status and headers say to do with its body. */
type BodyPlan =
  /** The `.part` is already the whole file (a run killed between the last byte and the rename). */
  | { readonly kind: 'whole' }
  /** The server did not answer the resume as asked: delete the part and ask again from byte 0. */
  | { readonly kind: 'restart'; readonly error: DownloadError }
  /** Bytes from `start` (0: the whole file) follow; `announced`: the server said the size. */
  | { readonly kind: 'body'; readonly start: number; readonly total?: number; readonly announced: boolean };

/**
 * Reads the status and headers. Throws for an HTTP error, an HTML page or a size that differs from the expected
 * one (cancelling the body); returns what to do otherwise.
 */
async function readHead(res: Response, url: string, dest: string, from: ResumePoint, opts: DownloadOptions): Promise<BodyPlan> {
  const file = basename(dest);
  const cancel = async (): Promise<void> => void (await res.body?.cancel());
  if (res.status === 416 && from.offset > 0) {
    // Range Not Satisfiable after If-Range held: the server still has the file, and the part may be all of it.
    await cancel();
    const range = parseContentRange(res.headers.get('content-range'));
    if (range?.total === from.offset && (opts.size === undefined || opts.size === from.offset)) return { kind: 'whole' };
    const error = new DownloadError('http', url, `${url} answered HTTP 416 to a request for bytes ${from.offset}- of ${file}`, { status: 416 });
    return { kind: 'restart', error };
  }
  if (res.status !== 200 && res.status !== 206) {
    await cancel();
    const hint = res.status === 404 || res.status === 410 ? ' (the file is gone from this host)' : '';
    throw new DownloadError('http', url, `${url} answered HTTP ${res.status} ${res.statusText}${hint}`, { status: res.status });
  }
  const type = res.headers.get('content-type') ?? '';
  if (/^text\/html\b/i.test(type)) {
    await cancel();
    throw new DownloadError('content', url, `${url} sent an HTML page (Content-Type: ${type}) instead of a checkpoint; the host may have moved the file`);
  }
  const length = contentLength(res);
  let plan: BodyPlan;
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('content-range'));
    const total = range?.total ?? (length === undefined ? undefined : from.offset + length);
    if (!range || range.start !== from.offset || (from.total !== undefined && total !== undefined && total !== from.total)) {
      await cancel();
      const error = new DownloadError('size', url, `${url} answered a request for bytes ${from.offset}- with Content-Range "${res.headers.get('content-range')}"`);
      return { kind: 'restart', error };
    }
    plan = { kind: 'body', start: from.offset, total, announced: total !== undefined };
  } else {
    // 200: no Range was sent, or the server ignored it, or If-Range found the file changed. Start over.
    plan = { kind: 'body', start: 0, total: length, announced: length !== undefined };
  }
  if (opts.size !== undefined && plan.total !== undefined && plan.total !== opts.size) {
    await cancel();
    await discardPart(dest);
    throw new DownloadError('size', url, `${url} serves ${plan.total} bytes, but ${file} should be ${opts.size} bytes; the file on the server is not the expected one`);
  }
  return { ...plan, total: plan.total ?? opts.size };
}

/** Appends (or writes from byte 0) the body to `.part`, hashing the whole file on the way. */
async function receiveBody(
  res: Response,
  url: string,
  dest: string,
  plan: Extract<BodyPlan, { kind: 'body' }>,
  opts: DownloadOptions,
): Promise<{ loaded: number; sha256: string }> {
  const part = partPath(dest);
  const file = basename(dest);
  const name = opts.name ?? file;
  const { start, total } = plan;
  const emit = opts.onProgress ?? (() => {});
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
    throw await dropped(url, dest, loaded, total, cause);
  } finally {
    await fh.close();
  }
  if (total !== undefined && loaded < total) throw await dropped(url, dest, loaded, total, undefined);
  if (total !== undefined && loaded > total) {
    await discardPart(dest);
    const limit = plan.announced ? `the ${total} bytes it announced for ${file}` : `the ${total} bytes ${file} should have`;
    throw new DownloadError('size', url, `${url} sent more than ${limit}; deleted the download, re-running fetches it again`);
  }
  return { loaded, sha256: hash.digest('hex') };
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
  const part = partPath(dest);
  const file = basename(dest);
  if (opts.size !== undefined && size !== opts.size) {
    await discardPart(dest);
    throw new DownloadError('size', url, `${file} from ${url} is ${size} bytes, expected ${opts.size}; deleted the download, re-running fetches it again`);
  }
  if (opts.sha256 !== undefined && !sha256.startsWith(opts.sha256.toLowerCase())) {
    await discardPart(dest);
    throw new DownloadError(
      'hash',
      url,
      `sha256 of ${file} from ${url} is ${sha256}, expected ${opts.sha256.toLowerCase()}${opts.sha256.length < 64 ? '…' : ''}: ` +
        'the download is corrupt or the server has a different file; deleted it, re-running downloads it again',
    );
  }
  await io(url, `move ${part} to ${dest}`, () => rename(part, dest));
  await rm(metaPath(dest), { force: true });
  opts.onProgress?.({ status: 'done', name: opts.name ?? file, file, path: dest, cached: false });
  return { path: dest, size, sha256, url, resumedFrom, cached: false };
}

async function dropped(url: string, dest: string, loaded: number, total: number | undefined, cause: unknown): Promise<DownloadError> {
  const why = cause === undefined ? 'the server closed the connection' : describeCause(cause);
  const meta = await readPartMeta(dest);
  const next =
    meta?.etag !== undefined || meta?.lastModified !== undefined
      ? 're-run to resume'
      : 're-running starts over (the server sent no ETag or Last-Modified to resume against)';
  return new DownloadError(
    'dropped',
    url,
    `connection to ${url} dropped after ${loaded} of ${total ?? 'an unknown number of'} bytes (${why}); ` +
      `the bytes so far are kept in ${partPath(dest)}: ${next}`,
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
