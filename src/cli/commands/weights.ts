/**
 * `--weights` (and `--tune-from`) take a zoo name, a URL or a path everywhere: this resolves one to a local file,
 * downloading into the cache with a note on stderr.
 */
import { hostname } from 'node:os';
import { type ProgressEvent, type ProgressWait, resolveWeights } from '../../zoo/index.js';

/** `waiting for another download of X (pid N)`, with the host when it is another one. */
export function describeWait(e: ProgressWait): string {
  return `waiting for another download of ${e.file} (pid ${e.pid}${e.hostname === hostname() ? '' : ` on ${e.hostname}`})`;
}

/** The stderr line for a download event of a weights file, or undefined for events that print nothing. */
export function describeWeightsEvent(e: ProgressEvent): string | undefined {
  if (e.status === 'wait') return describeWait(e);
  if (e.status === 'download') return `downloading ${e.name} from ${e.url}`;
  return undefined;
}

/** Resolves a weights spec for a CLI verb; downloads (and waits for another process's) are announced on `stderr`. */
export function resolveCliWeights(spec: string, stderr: NodeJS.WritableStream = process.stderr): Promise<string> {
  return resolveWeights(spec, {
    onProgress: (e) => {
      const line = describeWeightsEvent(e);
      if (line) stderr.write(`${line}\n`);
    },
  });
}
