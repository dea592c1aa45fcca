/**
 * Progress events of downloads, as plain objects passed to one callback (the transformers.js shape). The CLI
 * draws a bar from them; a web page can draw its own UI from the same events.
 */

/** Fields every event has. */
interface ProgressBase {
  /** The zoo name, or the file name for a URL. */
  readonly name: string;
  /** The file name in the cache. */
  readonly file: string;
}

/** A file is being resolved; it may turn out to be cached. */
export interface ProgressInitiate extends ProgressBase {
  readonly status: 'initiate';
}

/** A request is about to go out. `resumeFrom` > 0 when a `.part` file is being resumed. */
export interface ProgressDownload extends ProgressBase {
  readonly status: 'download';
  readonly url: string;
  readonly resumeFrom: number;
}

/**
 * Another process is downloading the same file into the same cache; this one waits for it, then uses its file
 * (or resumes it, if that process died).
 */
export interface ProgressWait extends ProgressBase {
  readonly status: 'wait';
  /** The process downloading it. */
  readonly pid: number;
  readonly hostname: string;
}

/** Bytes arrived. `total` is undefined when neither the server nor the zoo table gave the size. */
export interface ProgressUpdate extends ProgressBase {
  readonly status: 'progress';
  /** Bytes on disk so far, including the resumed part. */
  readonly loaded: number;
  readonly total?: number;
  /** Percent, 0..100; undefined when `total` is unknown. */
  readonly progress?: number;
}

/** The file is in place at `path` (`cached`: it was already there and nothing was fetched). */
export interface ProgressDone extends ProgressBase {
  readonly status: 'done';
  readonly path: string;
  readonly cached: boolean;
}

/** One progress event. Switch on `status`. */
export type ProgressEvent = ProgressInitiate | ProgressWait | ProgressDownload | ProgressUpdate | ProgressDone;

/** The callback that receives {@link ProgressEvent}s. It must not throw. */
export type ProgressCallback = (event: ProgressEvent) => void;
