// Installs npm dependencies when they are missing, so that `npm start` and `npm test` work on a fresh clone.
// Uses only Node built-ins: it must run before anything is installed.
import { existsSync, readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const wanted = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
const missing = wanted.filter((name) => !existsSync(join(root, 'node_modules', name, 'package.json')));
if (missing.length > 0) {
  console.log(`[temporal-shift] installing missing npm packages: ${missing.join(', ')}`);
  // onnxruntime-node-install=skip (also in .npmrc): its postinstall would otherwise try to download CUDA binaries.
  execSync('npm install --no-audit --no-fund', {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' },
  });
}
