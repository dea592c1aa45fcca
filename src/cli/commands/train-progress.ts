/**
 * The progress bar of `tsm train`: one cli-progress bar per epoch, drawn from the run's progress events (the
 * library never prints). It shows the epoch's running loss and precision@1 (main.py's AverageMeter), clips per
 * second and cli-progress's ETA for the epoch.
 */
import { type Options, Presets, SingleBar } from 'cli-progress';
import type { RunEvent } from '../../train/run.js';

/** Options of {@link TrainProgressBar}. */
export interface TrainProgressOptions {
  /** Where the bar is drawn (stderr in the CLI). It draws only when `stream.isTTY` is true. */
  readonly stream: NodeJS.WritableStream;
  /** Total epochs, for the `Epoch e/E` label. */
  readonly epochs: number;
  /** Passed through to cli-progress (tests shorten `throttleTime`). */
  readonly barOptions?: Partial<Options>;
}

/** Payload fields of the bar's format string. */
interface Payload {
  readonly epoch: string;
  readonly loss: string;
  readonly top1: string;
  readonly rate: string;
}

/**
 * One bar per epoch from {@link RunEvent}s: `epoch_start` starts it, `step` advances it, `epoch_end` stops it.
 * @example
 * const bar = new TrainProgressBar({ stream: process.stderr, epochs: 50 });
 * await trainTsn(opts, (e) => { if (!bar.handle(e)) console.log(formatRunEvent(e, 20)); });
 */
export class TrainProgressBar {
  private bar?: SingleBar;
  private loss = 0;
  private top1 = 0;
  private samples = 0;
  private t0 = 0;
  private epoch = 0;

  constructor(private readonly opts: TrainProgressOptions) {}

  /** Whether the bar is drawn at all (a terminal). */
  get active(): boolean {
    return (this.opts.stream as { isTTY?: boolean }).isTTY === true;
  }

  /**
   * Feeds one event to the bar.
   * @returns true when the bar showed the event, so the caller need not print a line for it (the step lines)
   */
  handle(e: RunEvent): boolean {
    if (!this.active) return false;
    switch (e.status) {
      case 'epoch_start':
        this.stop();
        this.epoch = e.epoch;
        this.loss = 0;
        this.top1 = 0;
        this.samples = 0;
        this.t0 = performance.now();
        this.bar = new SingleBar(
          {
            format: 'Epoch {epoch} [{bar}] {value}/{total} | loss {loss} | top1 {top1}% | {rate} clips/s | ETA {eta_formatted}',
            stream: this.opts.stream,
            hideCursor: true,
            etaBuffer: 20,
            ...this.opts.barOptions,
          },
          Presets.shades_classic,
        );
        this.bar.start(e.total ?? 0, 0, this.payload());
        return true;
      case 'step':
        if (!this.bar) return false;
        this.loss += e.loss * e.samples;
        this.top1 += e.top1 * e.samples;
        this.samples += e.samples;
        this.bar.update(e.iter + 1, this.payload());
        return true;
      case 'epoch_end':
        this.stop();
        return false;
      default:
        return false;
    }
  }

  /** Stops the current bar (leaves its last state on screen). */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private payload(): Payload {
    const secs = (performance.now() - this.t0) / 1000;
    const n = this.samples;
    return {
      epoch: `${this.epoch + 1}/${this.opts.epochs}`,
      loss: n ? (this.loss / n).toFixed(4) : '-',
      top1: n ? (this.top1 / n).toFixed(1) : '-',
      rate: n && secs > 0 ? (n / secs).toFixed(1) : '-',
    };
  }
}
