/** The `tsm` command as a child process, for tests that check what a user sees. */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const TSM = join(resolve(import.meta.dirname, '..', '..'), 'bin', 'tsm.js');

/** What one `tsm` run printed, and its exit status. */
export interface TsmRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/tsm.js ...args` without blocking the test process (several can run at once). */
export function runTsm(args: readonly string[]): Promise<TsmRun> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [TSM, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}
