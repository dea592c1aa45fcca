/**
 * The page's state, published as `window.tsmDemo` for the browser test and the bench (web/main.ts keeps it
 * current). No DOM types here, so Node-side code can import it.
 */
/** Where frames come from. */
export type SourceKind = 'camera' | 'file';

/** How many entries of {@link DemoState.labelRuns} the page keeps. */
export const LABEL_RUNS_KEPT = 100;

/** What the page is doing; tests and the bench read it as `window.tsmDemo`. */
export interface DemoState {
  status: 'loading' | 'ready' | 'running' | 'error' | 'no-source' | 'bench-done';
  backend?: string;
  threads?: number;
  source?: SourceKind;
  /** Frames run through the model. */
  frames: number;
  label?: string;
  rawLabel?: string;
  top: { label: string; score: number }[];
  /**
   * The labels shown so far, repeats collapsed (`a, a, b, a` -> `a, b, a`), each with the frame count when it first
   * showed; the last {@link LABEL_RUNS_KEPT}. Kept by the page so a test that polls slowly still sees every change.
   */
  labelRuns: { label: string; frame: number }[];
  fps: number;
  modelMs: number;
  totalMs: number;
  error?: string;
  bench?: { steps: number; msPerFrame: number; p50: number; p90: number; pipelineMsPerFrame: number };
}
