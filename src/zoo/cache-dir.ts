/**
 * Where downloads are cached: `$TSM_CACHE`, else the platform's cache folder. Node only.
 */
import { homedir } from 'node:os';
import { posix, win32 } from 'node:path';

/** Environment variable that overrides the cache folder. */
export const CACHE_ENV = 'TSM_CACHE';

/** What {@link defaultCacheDir} looks at; the defaults are this process's. Passing them makes it testable. */
export interface CacheDirContext {
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** @default process.platform */
  readonly platform?: NodeJS.Platform;
  /** @default os.homedir() */
  readonly home?: string;
}

/**
 * The cache folder: `$TSM_CACHE` when set; else `$XDG_CACHE_HOME/temporal-shift` or `~/.cache/temporal-shift` on
 * Linux and other Unixes, `~/Library/Caches/temporal-shift` on macOS, `%LOCALAPPDATA%\temporal-shift\Cache` on
 * Windows. Node only.
 * @example
 * defaultCacheDir({ env: {}, platform: 'darwin', home: '/Users/ann' }); // '/Users/ann/Library/Caches/temporal-shift'
 */
export function defaultCacheDir(ctx: CacheDirContext = {}): string {
  const env = ctx.env ?? process.env;
  const platform = ctx.platform ?? process.platform;
  const override = env[CACHE_ENV];
  if (override) return override;
  const home = ctx.home ?? homedir();
  if (platform === 'win32') {
    return win32.join(env.LOCALAPPDATA || win32.join(home, 'AppData', 'Local'), 'temporal-shift', 'Cache');
  }
  if (platform === 'darwin') return posix.join(home, 'Library', 'Caches', 'temporal-shift');
  // NOTE: the XDG spec says a relative $XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env.XDG_CACHE_HOME;
  return posix.join(xdg && posix.isAbsolute(xdg) ? xdg : posix.join(home, '.cache'), 'temporal-shift');
}
