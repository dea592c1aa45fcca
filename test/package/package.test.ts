/**
 * The package as a user gets it: a copy of the working tree (what a fresh clone holds) is packed with `npm pack`
 * (whose `prepare` builds dist/), the tarball is installed into an empty project outside the repository with the
 * README's install line, and plain `node` (no tsx) runs an ESM script there that calls `actionRecognizer()` on
 * generated clips, then the README's "Use it as a library" snippet itself, read from README.md.
 *
 * The install reaches the npm registry only (through npm's cache, `--prefer-offline`). It goes through
 * onnxruntime-node's real install script: that script downloads its CUDA provider from api.nuget.org whenever
 * onnxruntime-node is installed as a dependency on Linux x64 (it does not look at the user id; "root" in its
 * terms is the project being installed, whose own `npm ci` it skips), so the README's setting is what keeps the
 * install offline, and the test checks that no CUDA binary arrived.
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';

const REPO = resolve(import.meta.dirname, '..', '..');
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
};
/** Synthetic classes the default model gets right on at least 94% of held-out clips (models/default/model.json). */
const EASY_CLASSES = ['right', 'left', 'grow', 'shrink'];

/** Seconds each setup step took, reported as diagnostics. */
const timings: Record<string, number> = {};
let work: string;
let app: string;
let tarball: string;
let installed: string;

/** Runs a command; fails the test with its output when it exits non-zero. */
function run(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 240_000, maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) {
    assert.fail(`${cmd} ${args.join(' ')} (in ${opts.cwd}) failed: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** The environment without any onnxruntime-node install setting, so only what the README says applies. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(npm_config_onnxruntime|ONNXRUNTIME_NODE_INSTALL)/i.test(k)) delete env[k];
  return env;
}

/** The body of the first fenced block of `lang` in the README section `heading` that contains `needle`. */
function readmeBlock(heading: string, lang: string, needle: string): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(at >= 0, `README.md has no "## ${heading}" section`);
  const section = readme.slice(at + 1).split(/\n## /)[0];
  const blocks = [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  const block = blocks.find((b) => b.includes(needle));
  assert.ok(block, `README.md "${heading}" has no \`\`\`${lang} block with ${needle}`);
  return block;
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'tsm-package-'));
  // a fresh clone: the tracked and untracked-but-not-ignored files (no dist/, no node_modules/), with the
  // repository's node_modules linked in for the build tools `prepare` runs
  const clone = join(work, 'clone');
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO }).stdout.split('\0').filter(Boolean);
  for (const f of files) {
    if (!existsSync(join(REPO, f)) || /^(node_modules|dist)(\/|$)/.test(f)) continue; // deleted in the working tree; a linked node_modules
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    cpSync(join(REPO, f), join(clone, f));
  }
  symlinkSync(join(REPO, 'node_modules'), join(clone, 'node_modules'), 'dir');
  let t0 = performance.now();
  const packOut = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: clone, env: cleanEnv() }).stdout;
  // the build's own lines come first; npm's JSON report is the last thing printed
  const packed = JSON.parse(packOut.slice(packOut.search(/^\[/m))) as { filename: string }[];
  tarball = join(work, packed[0].filename);
  timings['npm pack (with the build)'] = (performance.now() - t0) / 1000;

  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'tsm-consumer', private: true, type: 'module' }, null, 2)}\n`);
  // the README's install line, with its tarball name replaced by where npm pack put it
  const line = readmeBlock('Use it as a library', 'sh', 'npm install').trim();
  const m = /^((?:[A-Z_]+=\S+ )*)npm install (\S+)$/.exec(line);
  assert.ok(m, `README install line is not "VAR=value npm install SPEC": ${line}`);
  assert.equal(m[2].replace(/^\.\//, ''), packed[0].filename, 'the README names the tarball npm pack writes');
  const env = cleanEnv();
  for (const a of m[1].trim().split(/\s+/).filter(Boolean)) env[a.slice(0, a.indexOf('='))] = a.slice(a.indexOf('=') + 1);
  t0 = performance.now();
  run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, env, timeoutMs: 300_000 });
  timings['npm install of the tarball'] = (performance.now() - t0) / 1000;
  installed = join(app, 'node_modules', PKG.name);

  // clips the default model has not seen: frame folders from the installed package's own generator, and videos
  const gen = `
    import { makeSyntheticDataset } from 'temporal-shift/data';
    const made = await makeSyntheticDataset('clips', { classes: ${JSON.stringify(EASY_CLASSES)}, clips: 2, seed: 4242, valFraction: 0 });
    console.log(JSON.stringify(made.train.map((r) => ({ path: 'clips/frames/' + r.path, truth: made.classes[r.label] }))));
  `;
  writeFileSync(join(app, 'gen.mjs'), gen);
  const clips = JSON.parse(run(process.execPath, ['gen.mjs'], { cwd: app }).stdout) as { path: string; truth: string; video?: string }[];
  for (const [i, c] of clips.entries()) {
    c.video = i === 0 ? 'clip.mp4' : `clip${i}.mp4`; // clip.mp4 is the one the README's snippet reads
    run('ffmpeg', ['-v', 'error', '-y', '-framerate', '8', '-i', join(c.path, 'img_%05d.jpg'), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '12', c.video], { cwd: app });
  }
  writeFileSync(join(app, 'clips.json'), JSON.stringify(clips));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the build, the CLI and the default model, not the sources; every export resolves to a file', (t) => {
  for (const [step, secs] of Object.entries(timings)) t.diagnostic(`${step}: ${secs.toFixed(1)} s`);
  t.diagnostic(`tarball: ${(statSync(tarball).size / 1e6).toFixed(1)} MB`);
  assert.ok(!existsSync(join(installed, 'src')), 'src/ is not shipped');
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/data/pixel-kernels.wasm', 'dist/zoo/labels/kinetics-400.txt', 'dist/data/loader-worker.js', 'models/default/model.json']) {
    assert.ok(existsSync(join(installed, f)), `${f} is in the package`);
  }
  for (const [sub, target] of Object.entries(PKG.exports)) {
    const files = typeof target === 'string' ? [target] : Object.values(target);
    for (const f of files) assert.ok(existsSync(join(installed, f)), `exports["${sub}"] -> ${f} exists in the package`);
  }
  const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.ok(!('tsx' in pkg.dependencies), 'tsx is a devDependency: consumers do not need it');
  assert.ok(!existsSync(join(app, 'node_modules', 'tsx')), 'tsx was not installed into the consumer');
  // the README's setting kept onnxruntime-node's install script from fetching its CUDA provider
  const ortBin = join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');
  assert.ok(!existsSync(join(ortBin, 'libonnxruntime_providers_cuda.so')), 'no CUDA provider was downloaded');
});

test('plain node imports every Node entry point of the installed package (no tsx; data files and the loader worker found)', () => {
  const entries = Object.keys(PKG.exports).filter((k) => k !== './web' && k !== './package.json');
  const script = `
    ${entries.map((e, i) => `import * as m${i} from '${e === '.' ? PKG.name : `${PKG.name}/${e.slice(2)}`}';`).join('\n')}
    const { simdKernelsEnabled } = await import(${JSON.stringify(pathToFileURL(join(installed, 'dist', 'data', 'pixel-kernels.js')).href)});
    import { zooLabels } from '${PKG.name}';
    import { DataLoader, valCropping } from '${PKG.name}/data';
    const counts = [${entries.map((_, i) => `Object.keys(m${i}).length`).join(', ')}];
    // a loader worker thread runs the compiled worker module from dist/
    const loader = await DataLoader.create(
      { rootPath: 'clips/frames', listFile: 'clips/train_videofolder.txt', numSegments: 4, randomShift: false, transform: valCropping({ cropSize: 32, scaleSize: 36 }) },
      { batchSize: 2, numWorkers: 1 },
    );
    const shapes = [];
    try { for await (const b of loader.epoch(0)) shapes.push(b.input.shape.join('x')); } finally { await loader.close(); }
    console.log(JSON.stringify({ counts, shapes, simd: simdKernelsEnabled(), k400: zooLabels('kinetics').length, sth: zooLabels('somethingv2').length, first: zooLabels('kinetics')[0] }));
  `;
  writeFileSync(join(app, 'imports.mjs'), script);
  const out = JSON.parse(run(process.execPath, ['imports.mjs'], { cwd: app }).stdout) as { counts: number[]; shapes: string[]; simd: boolean; k400: number; sth: number; first: string };
  out.counts.forEach((n, i) => assert.ok(n > 0, `${entries[i]} exports something`));
  assert.deepEqual(out.shapes, ['2x12x32x32', '2x12x32x32', '2x12x32x32', '2x12x32x32'], 'batches from a worker thread');
  assert.equal(out.simd, true, 'the WebAssembly kernels load from dist/data/pixel-kernels.wasm');
  assert.deepEqual([out.k400, out.sth, out.first], [400, 174, 'abseiling']);
  const help = run(join(app, 'node_modules', '.bin', 'tsm'), ['--help'], { cwd: app });
  assert.match(help.stdout, /Usage: tsm/);
});

/** What the recognizer said about clip.mp4, for the README snippet's check. */
let clipMp4: { label: string; score: number } | undefined;

test('actionRecognizer() in the installed package recognises generated clips (frame folders and videos) under plain node', (t) => {
  const script = `
    import { actionRecognizer, UsageError } from 'temporal-shift';
    import { readFileSync } from 'node:fs';
    const clips = JSON.parse(readFileSync('clips.json', 'utf8'));
    const recognize = await actionRecognizer(undefined, { threads: 2 });
    const results = [];
    for (const c of clips) results.push({ truth: c.truth, video: c.video, folder: await recognize(c.path, { topK: 3 }), mp4: await recognize(c.video, { topK: 8 }) });
    const frames = [];
    for await (const p of recognize.stream('clip.mp4', { frameStride: 4 })) frames.push(p);
    let badTopK;
    try { await recognize('clip.mp4', { topK: 0 }); } catch (e) { badTopK = { usage: e instanceof UsageError, message: e.message }; }
    await recognize.dispose();
    console.log(JSON.stringify({ model: recognize.model, results, frames, badTopK }));
  `;
  writeFileSync(join(app, 'recognize.mjs'), script);
  type Scores = { index: number; label: string; score: number }[];
  const out = JSON.parse(run(process.execPath, ['recognize.mjs'], { cwd: app }).stdout) as {
    model: { labels: string[]; clip: boolean; online: boolean };
    results: { truth: string; video: string; folder: Scores; mp4: Scores }[];
    frames: { frame: number; label: string; score: number; top: Scores }[];
    badTopK: { usage: boolean; message: string };
  };
  assert.deepEqual([out.model.clip, out.model.online], [true, true]);
  assert.equal(out.results.length, 2 * EASY_CLASSES.length);
  let folders = 0;
  let videos = 0;
  for (const { truth, folder, mp4 } of out.results) {
    if (folder[0].label === truth) folders++;
    if (mp4[0].label === truth) videos++;
    assert.equal(folder.length, 3);
    assert.ok(folder[0].score > 0 && folder[0].score <= 1 && folder[0].score >= folder[1].score && folder[1].score >= folder[2].score, 'sorted by score');
    assert.equal(out.model.labels[folder[0].index], folder[0].label);
    assert.equal(mp4.length, out.model.labels.length, 'topK 8: every class');
    assert.ok(Math.abs(mp4.reduce((a, c) => a + c.score, 0) - 1) < 1e-6, 'softmax sums to 1');
  }
  // NOTE: a threshold, not every clip: the model is right on ~97% of held-out clips of these classes
  const n = out.results.length;
  t.diagnostic(`recognised ${folders}/${n} frame folders and ${videos}/${n} videos`);
  assert.ok(folders >= n - 2 && videos >= n - 2, `recognised ${folders}/${n} frame folders, ${videos}/${n} videos: ${JSON.stringify(out.results.map((r) => [r.truth, r.folder[0].label, r.mp4[0].label]))}`);
  clipMp4 = out.results.find((r) => r.video === 'clip.mp4')!.mp4[0];
  // stream: every 4th of the 16 frames, each with a label of the model and its top classes
  assert.deepEqual(out.frames.map((f) => f.frame), [0, 4, 8, 12]);
  for (const f of out.frames) {
    assert.ok(out.model.labels.includes(f.label), f.label);
    assert.equal(f.top.length, 5);
    assert.ok(f.score > 0 && f.score <= 1);
  }
  assert.deepEqual([out.badTopK.usage, /topK/.test(out.badTopK.message), /--top-k/.test(out.badTopK.message)], [true, true, false], out.badTopK.message);
});

test("the README's library snippet runs as written under plain node in the installed project", () => {
  const snippet = readmeBlock('Use it as a library', 'js', `from '${PKG.name}'`);
  assert.match(snippet, /actionRecognizer\(\)/);
  writeFileSync(join(app, 'readme.mjs'), snippet);
  const r = run(process.execPath, ['readme.mjs'], { cwd: app });
  const lines = r.stdout.trim().split('\n');
  const [label, score] = lines[0].split(' ');
  assert.ok(clipMp4, 'the recognizer test ran first');
  assert.equal(label, clipMp4.label, 'the snippet prints what the recognizer said about clip.mp4');
  // the snippet runs with onnxruntime's default thread count: float32 sums in another order
  assert.ok(Math.abs(Number(score) - clipMp4.score) < 1e-5, `score ${score} vs ${clipMp4.score}`);
  assert.equal(lines.length, 1 + 16, 'the top line, then one line per frame of the 16-frame clip');
  for (const l of lines.slice(1)) assert.match(l, /^\d+ \w+ [\d.e-]+$/);
});
