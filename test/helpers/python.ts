/**
 * Runs Debian's Python (`/usr/bin/python3`, which has python3-torch and python3-onnx; the first `python3` on
 * PATH may be another one). The packages come from scripts/install-system-deps.sh, which .ci/run calls: a
 * missing package fails the test with that hint instead of skipping it.
 */
import { spawnSync } from 'node:child_process';

export const DEBIAN_PYTHON = process.env.TSM_PYTHON ?? '/usr/bin/python3';

/** Runs a Python snippet with arguments; returns stdout, throws with stderr on failure. */
export function runPython(code: string, args: readonly string[] = [], timeoutMs = 120_000): string {
  return run(['-c', code, ...args], timeoutMs);
}

/** Runs a Python script file with arguments; returns stdout, throws with stderr on failure. */
export function runPythonFile(path: string, args: readonly string[] = [], timeoutMs = 120_000): string {
  return run([path, ...args], timeoutMs);
}

function run(argv: readonly string[], timeoutMs: number): string {
  const r = spawnSync(DEBIAN_PYTHON, argv, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`cannot run ${DEBIAN_PYTHON}: ${r.error.message} (run scripts/install-system-deps.sh)`);
  if (r.status !== 0) {
    const hint = /No module named '(torch|onnx|numpy|PIL)/.test(r.stderr) ? ' (install Debian packages with scripts/install-system-deps.sh)' : '';
    throw new Error(`python failed (exit ${r.status})${hint}:\n${r.stderr}`);
  }
  return r.stdout;
}
