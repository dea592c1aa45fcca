/**
 * Typed errors for temporal-shift. Every error a user can cause is a {@link TsmError} with a stable `code`
 * (starting with `TSM_`) and a message that says what was expected, what arrived, where, and what to try.
 */

/** What every {@link TsmError} constructor takes besides its message. */
export interface TsmErrorOptions {
  /** The error this one wraps. */
  readonly cause?: unknown;
  /**
   * The API options the message names, spelled as in the message (`topK`, `numClass`), so a front end can say
   * them its own way: the CLI rewrites each to its flag (`--top-k`).
   */
  readonly options?: readonly string[];
}

/** An API option name as messages write it: a camelCase identifier (`topK`), which {@link UsageError.expected} records. */
const OPTION_NAME = /^[a-z][A-Za-z0-9]*$/;

/** Base class of every error temporal-shift throws on purpose. */
export class TsmError extends Error {
  /** Stable machine-readable code, e.g. `TSM_USAGE`. */
  readonly code: string;
  /** The API options the message names (see {@link TsmErrorOptions.options}); empty when it names none. */
  readonly options: readonly string[];

  constructor(code: string, message: string, options?: TsmErrorOptions) {
    // no `cause` key at all when none is given, as before: Error defines an own `cause` for a key set to undefined
    super(message, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.options = Object.freeze([...(options?.options ?? [])]);
  }
}

/** A command-line flag or API option has a bad value (CLI exit code 2). */
export class UsageError extends TsmError {
  constructor(message: string, options?: TsmErrorOptions) {
    super('TSM_USAGE', message, options);
  }

  /**
   * `expected one of 1, 3, 10 for testCrops but received 5`. `name` is recorded in {@link TsmError.options} when
   * it is an option identifier (`testCrops`), not words (`the modality of kinetics`).
   */
  static expected(name: string, expected: string, received: unknown): UsageError {
    return new UsageError(`expected ${expected} for ${name} but received ${JSON.stringify(received)}`, OPTION_NAME.test(name) ? { options: [name] } : undefined);
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
  constructor(code: CheckpointErrorCode, message: string, options?: TsmErrorOptions) {
    super(code, message, options);
  }
}

/** A tensor shape does not fit an op or a model input (`TSM_SHAPE`). */
export class ShapeError extends TsmError {
  constructor(message: string, options?: TsmErrorOptions) {
    super('TSM_SHAPE', message, options);
  }
}

/** onnxruntime failed to create a session or to run one (`TSM_RUNTIME`). */
export class RuntimeSessionError extends TsmError {
  constructor(message: string, options?: TsmErrorOptions) {
    super('TSM_RUNTIME', message, options);
  }
}

/** Bad data: a malformed list line, a missing frame, a broken image or video (`TSM_DATA`). */
export class DataError extends TsmError {
  constructor(message: string, options?: TsmErrorOptions) {
    super('TSM_DATA', message, options);
  }
}

/** A file could not be written: a folder in the way, no permission, a full disk (`TSM_WRITE`). */
export class FileWriteError extends TsmError {
  constructor(message: string, options?: TsmErrorOptions) {
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

  constructor(message: string, path: string, holder?: LockHolder, options?: TsmErrorOptions) {
    super('TSM_LOCKED', message, options);
    this.path = path;
    this.holder = holder;
  }
}
