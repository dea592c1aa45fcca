// Second half of `npm run build` (after `tsc -p tsconfig.build.json`): copies into dist/ the data files the compiled
// modules read next to themselves through import.meta.url (the WebAssembly kernels, the zoo's label lists), so the
// package runs from dist/ with plain node. Node built-ins only.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
/** Data files the modules load at run time; everything else in src/ is compiled, or is for the repository only. */
const ASSETS = /\.(wasm|txt)$/;

if (!existsSync(join(dist, 'index.js'))) {
  console.error('copy-assets: dist/index.js is missing; run tsc -p tsconfig.build.json first (npm run build does both)');
  process.exit(1);
}
let copied = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (ASSETS.test(name)) {
      cpSync(p, join(dist, relative(src, p)));
      copied++;
    }
  }
};
walk(src);
console.log(`copy-assets: ${copied} data files copied into dist/`);
