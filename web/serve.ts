/**
 * `npm run demo:web [-- --model FILE.onnx | --weights FILE.pth] [--port 5173] [--host 127.0.0.1]`: builds the
 * browser demo with Vite and serves it (cross-origin isolated, so wasm threads work), with the model at
 * `/model.onnx`. Without `--model` it is the `--weights` file exported on demand into web/.model/ (ignored by git),
 * else the online model shipped in models/default/, else the default zoo model when it is downloaded, else the test
 * fixture's checkpoint. Node only.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type PreviewServer, build, preview } from 'vite';
import { buildOnlineExportGraph, writeExport } from '../src/deploy/export.js';
import { findDefaultOnlineOnnx } from '../src/deploy/default-model.js';
import { DEFAULT_ONLINE_MODEL, findDefaultOnlineWeights } from '../src/deploy/live.js';
import { loadOnlineMobileNetV2 } from '../src/models/online.js';
import { WEB_ROOT, demoConfig } from './demo-config.js';

/** Where models exported for the demo go. */
export const MODEL_CACHE = join(WEB_ROOT, '.model');

/** The shared fixture checkpoint (random weights) used when nothing else is available. */
const FIXTURE_WEIGHTS = resolve(WEB_ROOT, '..', '..', 'shared', 'fixtures', 'online_mobilenetv2_state_dict.pth');

/**
 * Exports `weights` as an online model into web/.model/, unless an export newer than the checkpoint is there.
 * @returns the `.onnx` path
 */
export async function exportForDemo(weights: string, inputSize = 224): Promise<string> {
  const out = join(MODEL_CACHE, `${basename(weights).replace(/(\.pth)?(\.tar)?$/, '')}-${inputSize}.onnx`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(weights).mtimeMs) return out;
  const { model } = await loadOnlineMobileNetV2(weights);
  await writeExport(buildOnlineExportGraph(model, { inputSize }), out);
  return out;
}

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  /** An exported online model. */
  readonly model?: string;
  /** A checkpoint to export when `model` is not given. */
  readonly weights?: string;
  readonly host?: string;
  readonly port?: number;
  /** Build output. @default web/dist */
  readonly outDir?: string;
  /** Receives what the server decided (the model used, defaults). */
  readonly onNote?: (message: string) => void;
}

/**
 * Picks the model file: `model`, else an export of `weights`, the online model shipped in models/default/, the
 * default zoo model, or the fixture.
 */
export async function resolveDemoModel(opts: Pick<DemoServerOptions, 'model' | 'weights' | 'onNote'>): Promise<string | undefined> {
  if (opts.model) return resolve(opts.model);
  if (opts.weights) return exportForDemo(resolve(opts.weights));
  const shipped = findDefaultOnlineOnnx();
  if (shipped) {
    opts.onNote?.(`No model specified. Using the built-in default model ${shipped} (synthetic temporal-order task; --weights for another checkpoint)`);
    return shipped;
  }
  const zoo = await findDefaultOnlineWeights();
  if (zoo) {
    opts.onNote?.(`No model specified. Using default model ${DEFAULT_ONLINE_MODEL} (${zoo})`);
    return exportForDemo(zoo);
  }
  if (existsSync(FIXTURE_WEIGHTS)) {
    opts.onNote?.(
      `No model specified and ${DEFAULT_ONLINE_MODEL} is not downloaded (tsm zoo download ${DEFAULT_ONLINE_MODEL}). Using the test fixture ${FIXTURE_WEIGHTS}: random weights, so its labels mean nothing`,
    );
    return exportForDemo(FIXTURE_WEIGHTS);
  }
  opts.onNote?.('No model found: the page will say so. Pass --model FILE.onnx (tsm export --online) or --weights FILE.pth');
  return undefined;
}

/**
 * Builds the demo and serves the build. Close the returned server when done.
 * @example const server = await startDemoServer({ model: 'online.onnx', port: 0 }); server.resolvedUrls?.local[0];
 */
export async function startDemoServer(opts: DemoServerOptions = {}): Promise<PreviewServer> {
  const model = await resolveDemoModel(opts);
  const config = demoConfig({ model, host: opts.host, port: opts.port, outDir: opts.outDir });
  await build(config);
  return preview(config);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      weights: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5173' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`expected a port number for --port but received ${values.port}`);
  const server = await startDemoServer({ model: values.model, weights: values.weights, host: values.host, port, onNote: (n) => console.log(n) });
  console.log(`TSM web demo: ${server.resolvedUrls?.local[0] ?? `http://${values.host}:${port}/`} (Ctrl+C to stop)`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(WEB_ROOT, 'serve.ts')) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
