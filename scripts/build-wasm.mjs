// Assembles the WebAssembly kernels (src/data/pixel-kernels.wat, src/train/sgd-kernel.wat) into .wasm files next to
// them (wabt, a devDependency). The .wasm files are committed, so installing and running need no assembler; the
// kernels' tests check they are up to date.
//   node scripts/build-wasm.mjs [--check]
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The assembled bytes of `watPath`. */
export async function assemble(watPath) {
  const w = await wabt();
  const mod = w.parseWat(watPath, readFileSync(watPath, 'utf8'), { simd: true });
  try {
    mod.validate();
    return Buffer.from(mod.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    mod.destroy();
  }
}

const SOURCES = ['src/data/pixel-kernels.wat', 'src/train/sgd-kernel.wat'];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stale = false;
  for (const src of SOURCES) {
    const wat = join(root, src);
    const out = wat.replace(/\.wat$/, '.wasm');
    const bytes = await assemble(wat);
    if (process.argv.includes('--check')) {
      const same = Buffer.compare(bytes, readFileSync(out)) === 0;
      console.log(same ? `${out} is up to date` : `${out} is stale: run node scripts/build-wasm.mjs`);
      stale ||= !same;
      continue;
    }
    writeFileSync(`${out}.tmp`, bytes);
    renameSync(`${out}.tmp`, out);
    console.log(`wrote ${out} (${bytes.length} bytes)`);
  }
  process.exit(stale ? 1 : 0);
}
