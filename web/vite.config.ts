// `npx vite --config web/vite.config.ts` (dev server with hot reload); `npm run demo:web` builds and previews instead.
// The model comes from $TSM_WEB_MODEL (an exported online .onnx).
import { defineConfig } from 'vite';
import { demoConfig } from './demo-config.js';

export default defineConfig(demoConfig({ model: process.env.TSM_WEB_MODEL }));
