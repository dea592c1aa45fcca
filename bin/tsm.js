#!/usr/bin/env node
// The `tsm` command. In the repository it runs the TypeScript sources through tsx's loader, so no build step is
// needed; an installed package has no src/ and runs the compiled dist/ with plain node.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
