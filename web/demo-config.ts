/**
 * Vite configuration of the browser demo, shared by `web/vite.config.ts` (plain `vite` commands), `npm run
 * demo:web` (web/serve.ts), the browser test and the browser bench. It serves the model at `/model.onnx` and
 * onnxruntime-web's wasm files at `/ort/` from node_modules, and sends the cross-origin isolation headers that
 * wasm threads need. Node only.
 */
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type InlineConfig, type Plugin, defaultClientConditions } from 'vite';

/** The web/ folder. */
export const WEB_ROOT = dirname(fileURLToPath(import.meta.url));

/**
 * The package's browser entry as its source: the page imports `temporal-shift/web`, and this alias (with the same
 * mapping in web/tsconfig.json) makes that the very module the package builds, so the demo cannot drift from it.
 */
export const WEB_ENTRY_ALIAS: Readonly<Record<string, string>> = Object.freeze({
  'temporal-shift/web': resolve(WEB_ROOT, '..', 'src', 'web', 'index.ts'),
});

/** onnxruntime-web's dist folder (the wasm binaries and their loaders). */
export const ORT_DIST = dirname(createRequire(import.meta.url).resolve('onnxruntime-web')); // .../dist/ort.min.js

/** The wasm build the page uses (WebGPU + wasm EPs, SIMD, threads) and its loader. */
const ORT_FILE = /^ort-wasm-simd-threaded\.jsep\.(wasm|mjs)$/;

/** Headers that make the page cross-origin isolated, so onnxruntime-web may use SharedArrayBuffer threads. */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
});

/** Options of {@link demoConfig}. */
export interface DemoConfigOptions {
  /** The exported online model served at `/model.onnx`; without it that URL answers 404 and the page says so. */
  readonly model?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 5173 */
  readonly port?: number;
  /** Build output. @default web/dist */
  readonly outDir?: string;
}

function sendFile(res: ServerResponse, path: string, type: string): void {
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', String(statSync(path).size));
  for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
  createReadStream(path).pipe(res);
}

/** Serves `/model.onnx` and `/ort/*`, and copies the ORT files into the build. */
export function tsmDemoPlugin(opts: { readonly model?: string }): Plugin {
  // NOTE: returns nothing; a function returned from these hooks would be run by Vite as a post hook
  const middleware = (server: { middlewares: { use(fn: (req: { url?: string }, res: ServerResponse, next: () => void) => void): unknown } }): void => {
    server.middlewares.use((req, res, next) => {
      const url = (req.url ?? '').split('?')[0];
      if (url === '/model.onnx') {
        if (!opts.model || !existsSync(opts.model)) {
          res.statusCode = 404;
          res.setHeader('Content-Type', 'text/plain');
          res.end(opts.model ? `model file ${opts.model} does not exist` : 'no model configured: start the demo with npm run demo:web -- --model FILE.onnx');
          return;
        }
        sendFile(res, opts.model, 'application/octet-stream');
        return;
      }
      if (url.startsWith('/ort/') && ORT_FILE.test(basename(url))) {
        sendFile(res, join(ORT_DIST, basename(url)), url.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        return;
      }
      next();
    });
  };
  let outDir = '';
  return {
    name: 'tsm-demo',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer: middleware,
    configurePreviewServer: middleware,
    writeBundle() {
      // so web/dist works from any static server that sends ISOLATION_HEADERS
      mkdirSync(join(outDir, 'ort'), { recursive: true });
      for (const f of readdirSync(ORT_DIST).filter((n) => ORT_FILE.test(n))) copyFileSync(join(ORT_DIST, f), join(outDir, 'ort', f));
    },
  };
}

/**
 * The demo's Vite config (root web/, no config file).
 * @example await build(demoConfig({})); const server = await preview(demoConfig({ model: 'online.onnx' }));
 */
export function demoConfig(opts: DemoConfigOptions = {}): InlineConfig {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 5173;
  return {
    configFile: false,
    root: WEB_ROOT,
    logLevel: 'warn',
    appType: 'mpa', // unknown paths answer 404, not index.html (a wrong ?model= must not look like a model)
    plugins: [tsmDemoPlugin({ model: opts.model })],
    // onnxruntime-web's build without embedded wasm: it loads /ort/ort-wasm-simd-threaded.jsep.{mjs,wasm}
    resolve: { alias: { ...WEB_ENTRY_ALIAS }, conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
    server: { host, port, strictPort: false, headers: { ...ISOLATION_HEADERS } },
    preview: { host, port, strictPort: false, headers: { ...ISOLATION_HEADERS } },
    build: {
      outDir: opts.outDir ?? join(WEB_ROOT, 'dist'),
      emptyOutDir: true,
      target: 'es2022',
      chunkSizeWarningLimit: 2048,
      // two pages: live recognition, and teaching your own actions
      rollupOptions: { input: { index: join(WEB_ROOT, 'index.html'), teach: join(WEB_ROOT, 'teach.html') } },
    },
  };
}
