/**
 * Headless Chromium for the demo's browser test and bench, through playwright-core and the system browser
 * (Debian's `chromium`; never a downloaded one). A fake camera can be fed from a `.y4m` clip. Node only.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';

/** The browser binary: `$TSM_CHROMIUM`, else Debian's. */
export const CHROMIUM = process.env.TSM_CHROMIUM ?? '/usr/bin/chromium';

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /** A `.y4m` clip the fake camera plays (looping); without it there is no camera at all. */
  readonly fakeCamera?: string;
}

/**
 * Playwright's limit for one navigation or action (30 s unless set). A page load or a screenshot on a loaded
 * 2-core machine can take longer than that without anything being wrong; a hang still ends.
 */
export const ACTION_TIMEOUT_MS = 120_000;

/** A running browser (one persistent context) and the profile folder it owns. */
export interface LaunchedChromium {
  readonly context: BrowserContext;
  newPage(): Promise<Page>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with a fresh profile (`--user-data-dir`), no network services, and optionally a fake
 * camera fed from a clip.
 * @throws {Error} naming the binary when it is missing (install it with `apt-get install -y chromium`)
 */
export async function launchChromium(opts: LaunchOptions = {}): Promise<LaunchedChromium> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set TSM_CHROMIUM)`);
  const profile = mkdtempSync(join(tmpdir(), 'tsm-chromium-'));
  const args = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (opts.fakeCamera) {
    args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${opts.fakeCamera}`);
  }
  // NOTE: playwright passes the profile as --user-data-dir, and --headless / --no-sandbox from these options
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args,
    viewport: { width: 1180, height: 720 },
  });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  return {
    context,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
