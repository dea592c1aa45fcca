/**
 * The page's code (web/main.ts and what it imports, src/deploy/browser.ts included) must not reach Node:
 * Vite would only warn and stub the module, and the page would break at run time.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const repo = resolve(import.meta.dirname, '..', '..');

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
      if (!spec.startsWith('.')) {
        packages.set(spec, relative(repo, file));
        continue;
      }
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      assert.ok(existsSync(target), `${relative(repo, file)} imports ${spec}, which does not exist`);
      todo.push(target);
    }
  }
  return { files, packages };
}

test('the web page imports only browser-safe code: onnxruntime-web and src/deploy/browser.ts', () => {
  const { files, packages } = reach([join(repo, 'web', 'main.ts')]);
  const rel = [...files].map((f) => relative(repo, f)).sort();
  assert.ok(rel.includes('src/deploy/browser.ts'));
  assert.deepEqual([...packages.keys()], ['onnxruntime-web'], `bare imports: ${JSON.stringify(Object.fromEntries(packages))}`);
  // no Node-only layer is reachable
  for (const f of rel) assert.doesNotMatch(f, /^src\/(runtime|checkpoint|data|models|graph|zoo|cli)\/|^src\/deploy\/(export|live)\.ts$|^web\/(serve|demo-config|chromium)\.ts$/, f);
});

test('src/deploy/browser.ts reaches no Node module', () => {
  const { packages } = reach([join(repo, 'src', 'deploy', 'browser.ts')]);
  assert.deepEqual([...packages.keys()], []);
});
