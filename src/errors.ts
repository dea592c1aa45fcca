/**
 * Typed errors for temporal-shift. Every error a user can cause is a {@link TsmError} with a stable `code`
 * (starting with `TSM_`) and a message that says what was expected, what arrived, where, and what to try.
 */

/** Base class of every error temporal-shift throws on purpose. */
export class TsmError extends Error {
  /** Stable machine-readable code, e.g. `TSM_USAGE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A command-line flag or API option has a bad value (CLI exit code 2). */
export class UsageError extends TsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TSM_USAGE', message, options);
  }

  /** `expected one of 1, 3, 10 for --test-crops but received 5` */
  static expected(name: string, expected: string, received: unknown): UsageError {
    return new UsageError(`expected ${expected} for ${name} but received ${JSON.stringify(received)}`);
  }

  /**
   * A value outside a closed set, listing the set: `Unsupported shift mode: sideways. Must be one of
   * [bidirectional, online]`, then `hint` when given.
   */
  static unsupported(what: string, value: unknown, choices: Iterable<string>, hint?: string): UsageError {
    return new UsageError(`Unsupported ${what}: ${String(value)}. Must be one of [${[...choices].join(', ')}]${hint ? ` ${hint}` : ''}`);
  }
}

/** Error codes of {@link CheckpointError}. */
export type CheckpointErrorCode =
  | 'TSM_CHECKPOINT_FORMAT'
  | 'TSM_CHECKPOINT_TRUNCATED'
  | 'TSM_CHECKPOINT_GLOBAL'
  | 'TSM_CHECKPOINT_KEY_MISSING'
  | 'TSM_CHECKPOINT_SHAPE'
  | 'TSM_CHECKPOINT_ARCH'
  | 'TSM_CHECKPOINT_IO';

/** A checkpoint or tensor file is unreadable, unsafe, or does not fit the model. */
export class CheckpointError extends TsmError {
  constructor(code: CheckpointErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A tensor shape does not fit an op or a model input (`TSM_SHAPE`). */
export class ShapeError extends TsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TSM_SHAPE', message, options);
  }
}

/** onnxruntime failed to create a session or to run one (`TSM_RUNTIME`). */
export class RuntimeSessionError extends TsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TSM_RUNTIME', message, options);
  }
}

/** Bad data: a malformed list line, a missing frame, a broken image or video (`TSM_DATA`). */
export class DataError extends TsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TSM_DATA', message, options);
  }
}

/** A file could not be written: a folder in the way, no permission, a full disk (`TSM_WRITE`). */
export class FileWriteError extends TsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TSM_WRITE', message, options);
  }
}

/** Something that should be impossible happened: a bug in temporal-shift. */
export class InternalError extends TsmError {
  constructor(message: string) {
    super('TSM_INTERNAL', `${message} (this is a bug in temporal-shift, please report it)`);
  }
}

/** Who holds a lock, as its lock file records it. */
export interface LockHolder {
  readonly pid: number;
  readonly hostname: string;
  /** When the holder took the lock, ms since the epoch. */
  readonly started: number;
  /** What the holder is doing (`tsm train`, `download of resnet50.pth`). */
  readonly purpose?: string;
}

/**
 * Another process holds a cache entry or run folder this one needs (`TSM_LOCKED`). The message names the path, the
 * holder's pid and what to do.
 */
export class LockError extends TsmError {
  /** The lock file. */
  readonly path: string;
  /** Who holds it, when its lock file could be read. */
  readonly holder?: LockHolder;

  constructor(message: string, path: string, holder?: LockHolder, options?: { cause?: unknown }) {
    super('TSM_LOCKED', message, options);
    this.path = path;
    this.holder = holder;
  }
}
