/**
 * The Teach page's state, published as `window.tsmTeach` for the browser test (web/teach.ts keeps it current). No
 * DOM types here, so Node-side code can import it.
 */
/** What the Teach page is doing and showing. */
export interface TeachPageState {
  status: 'loading' | 'setup' | 'collecting' | 'recording' | 'training' | 'error';
  classes: string[];
  /** Clips per action. */
  clips: Record<string, number>;
  trained: boolean;
  /** Epochs of the current (or running) training. */
  epochs: { epoch: number; loss: number; accuracy: number }[];
  /** Live recognition: the smoothed label and the top classes. */
  label?: string;
  top: { label: string; score: number }[];
  /** Steps run by the live recognizer. */
  liveFrames: number;
  error?: string;
  /** Times saved to IndexedDB. */
  saves: number;
  camera: boolean;
}
