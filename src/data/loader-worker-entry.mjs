// Bootstrap of a loader worker thread: makes tsx's loader available in the worker (whether or not the main
// thread was started with --import tsx), then runs the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./loader-worker.ts');
