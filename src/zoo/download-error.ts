/**
 * The error of a download that failed: an HTTP status, a dropped connection, a wrong size or hash.
 */
import { TsmError } from '../errors.js';

/** Why a download failed, so callers can branch without parsing the message. */
export type DownloadFailure =
  /** The server answered with an HTTP error status (see `status`). */
  | 'http'
  /** No connection could be made (refused, DNS, TLS, timeout before the first byte). */
  | 'network'
  /** The connection dropped mid-file; the bytes so far are kept in `<file>.part` and re-running resumes. */
  | 'dropped'
  /** The file has the wrong size (the server or the zoo table said otherwise). */
  | 'size'
  /** The file's sha256 differs from the zoo table's. */
  | 'hash'
  /** The server sent something that is not a checkpoint (an HTML page). */
  | 'content'
  /** Reading or writing the cache folder failed. */
  | 'io'
  /** Another process kept downloading the same file for longer than this one would wait. */
  | 'locked';

/** A download failed (`TSM_DOWNLOAD`). The message names the URL, the problem and what to try. */
export class DownloadError extends TsmError {
  /** What went wrong. */
  readonly reason: DownloadFailure;
  /** The URL being downloaded (the last one tried when there were mirrors). */
  readonly url: string;
  /** The HTTP status, for `reason: 'http'`. */
  readonly status?: number;

  constructor(
    reason: DownloadFailure,
    url: string,
    message: string,
    options: { readonly status?: number; readonly cause?: unknown } = {},
  ) {
    super('TSM_DOWNLOAD', message, { cause: options.cause });
    this.reason = reason;
    this.url = url;
    this.status = options.status;
  }
}
