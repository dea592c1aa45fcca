/**
 * The package's browser entry (src/web, published as `temporal-shift/web`) and the demo page that consumes it
 * (web/main.ts) must not reach Node: Vite would only warn and stub the module, and the page would break at run time.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const repo = resolve(import.meta.dirname, '..', '..');

/** Package specifiers that resolve to repository files (the demo's Vite alias and web/tsconfig.json paths). */
const ALIASES: Readonly<Record<string, string>> = { 'temporal-shift/web': join(repo, 'src', 'web', 'index.ts') };

/**
 * Folders and files only Node may load. src/graph, src/nn, src/autodiff and src/models are browser-safe by rule
 * (the teacher builds and trains its graphs in the page), and so are the checkpoint codecs, the step graph and its
 * passes, and the seeded random streams; their Node-side loaders are listed here.
 */
const NODE_ONLY =
  /^src\/(runtime|zoo|cli|evaluate|recognize|quantize)\/|^src\/data\/(?!random\.ts$)|^src\/checkpoint\/(read-file|npy|index)\.ts$|^src\/models\/(online|load|index)\.ts$|^src\/train\/(?!(step-graph|sgd|policies)\.ts$|passes\/)|^src\/util\/atomic-write\.ts$|^src\/deploy\/(export|live|default-model|index)\.ts$|^src\/index\.ts$|^web\/(serve|demo-config|chromium)\.ts$/;

/** The packages the browser entry may import: onnxruntime-web, and the ONNX protobuf schema and inflate the teacher uses. */
const BROWSER_PACKAGES = ['fflate', 'onnx-proto', 'onnxruntime-web'];

/** Specifiers of static and dynamic imports and re-exports (type-only imports count too: stricter than needed). */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of src.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

/** Every file reachable from `entries` and every bare package they import. */
function reach(entries: readonly string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.') && !(spec in ALIASES)) {
        packages.set(spec, relative(repo, file));
        continue;
      }
      const target = ALIASES[spec] ?? resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      assert.ok(existsSync(target), `${relative(repo, file)} imports ${spec}, which does not exist`);
      todo.push(target);
    }
  }
  return { files, packages };
}

test('the package entry temporal-shift/web (src/web) reaches only onnxruntime-web and browser-safe code', () => {
  const { files, packages } = reach([join(repo, 'src', 'web', 'index.ts')]);
  const rel = [...files].map((f) => relative(repo, f)).sort();
  assert.ok(rel.includes('src/web/recognizer.ts') && rel.includes('src/deploy/browser.ts'), rel.join(', '));
  assert.deepEqual([...packages.keys()].sort(), BROWSER_PACKAGES, `bare imports: ${JSON.stringify(Object.fromEntries(packages))}`);
  for (const f of rel) assert.doesNotMatch(f, NODE_ONLY, f);
});

test('the web page imports the package entry temporal-shift/web, not the deploy internals or onnxruntime-web directly', () => {
  const own = readdirSync(join(repo, 'web')).filter((f) => f.endsWith('.ts') && !/^(serve|demo-config|chromium|vite\.config)\.ts$/.test(f));
  for (const f of own) {
    for (const spec of importsOf(join(repo, 'web', f))) assert.ok(spec === 'temporal-shift/web' || spec.startsWith('./'), `web/${f} imports ${spec}`);
  }
  const { files, packages } = reach([join(repo, 'web', 'main.ts')]);
  const rel = [...files].map((f) => relative(repo, f)).sort();
  assert.ok(rel.includes('src/web/index.ts'));
  assert.deepEqual([...packages.keys()].sort(), BROWSER_PACKAGES, `bare imports: ${JSON.stringify(Object.fromEntries(packages))}`);
  for (const f of rel) assert.doesNotMatch(f, NODE_ONLY, f);
});

test('src/deploy/browser.ts reaches no Node module', () => {
  const { packages } = reach([join(repo, 'src', 'deploy', 'browser.ts')]);
  assert.deepEqual([...packages.keys()], []);
});
