/**
 * `--weights` (and `--tune-from`) take a zoo name, a URL or a path everywhere: this resolves one to a local file,
 * downloading into the cache with a note on stderr.
 */
import { resolveWeights } from '../../zoo/index.js';

/** Resolves a weights spec for a CLI verb; downloads are announced on `stderr`. */
export function resolveCliWeights(spec: string, stderr: NodeJS.WritableStream = process.stderr): Promise<string> {
  return resolveWeights(spec, { onProgress: (e) => e.status === 'download' && stderr.write(`downloading ${e.name} from ${e.url}\n`) });
}
