/**
 * The model shipped in the repository (`models/default/`, built by `npm run train:default`): a small
 * TSM-MobileNetV2 trained from scratch on the synthetic temporal-order task, as a clip model (`npm start`,
 * `tsm predict`) and an online step model (`tsm demo`, `npm run demo:web`). Its model card `model.json` says how
 * it was made and how well it does on held-out clips. Node only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

/** `models/default/` of this package. */
export const DEFAULT_MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'default');

/** The variants the card describes: `clip` (bidirectional shift) and `online` (uni-directional shift). */
export const DEFAULT_MODEL_VARIANTS = Object.freeze({ clip: 'clip', online: 'online' } as const);
/** One of {@link DEFAULT_MODEL_VARIANTS}. */
export type DefaultModelVariant = keyof typeof DEFAULT_MODEL_VARIANTS;

/** One trained variant in the model card. */
export interface DefaultModelEntry {
  readonly description: string;
  /** File names inside the model folder: the clip model's weights and ONNX, the online model's step ONNX. */
  readonly files: { readonly weights?: string; readonly onnx?: string; readonly onlineOnnx?: string };
  /** `tsm test` on clips of another seed than the training set. */
  readonly heldOut: {
    readonly top1: number;
    readonly meanClassAccuracy: number;
    readonly numVideos: number;
    readonly perClass: Readonly<Record<string, number>>;
    readonly seed: number;
    readonly clipsPerClass: number;
  };
  /** The exact `tsm ...` command lines. */
  readonly commands: Readonly<Record<string, string>>;
  readonly trainingSeconds: number;
  /** Bytes per file. */
  readonly sizes: Readonly<Record<string, number>>;
}

/** `models/default/model.json`. */
export interface DefaultModelCard {
  readonly name: string;
  readonly summary: string;
  /** Label file name (one class per line). */
  readonly labels: string;
  readonly classes: readonly string[];
  readonly input: { readonly numSegments: number; readonly inputSize: number; readonly scaleSize: number; readonly frames: number };
  /** How the training data was generated: `tsm make-synthetic` options and command. */
  readonly dataset: {
    readonly classes: readonly string[];
    readonly size: number;
    readonly frames: number;
    readonly seed: number;
    readonly clips: number;
    readonly command: string;
    readonly testSet: { readonly seed: number; readonly clips: number; readonly command: string };
  };
  readonly training: Readonly<Record<string, string | number>>;
  readonly models: Readonly<Partial<Record<DefaultModelVariant, DefaultModelEntry>>>;
  readonly date: string;
}

/** A model card with the folder it was read from. */
export interface DefaultModel {
  readonly dir: string;
  readonly card: DefaultModelCard;
  /** Absolute path of a variant's file, or undefined when the card has no such variant or file. */
  file(variant: DefaultModelVariant, kind: keyof DefaultModelEntry['files']): string | undefined;
}

/**
 * Reads the shipped model's card. Node only.
 * @param dir @default {@link DEFAULT_MODEL_DIR}
 * @returns undefined when the folder has no `model.json`
 * @throws {UsageError} when `model.json` is unreadable
 * @example const m = readDefaultModel(); m?.file('clip', 'weights'); // .../models/default/TSM_synthetic_..._e12.pth
 */
export function readDefaultModel(dir: string = DEFAULT_MODEL_DIR): DefaultModel | undefined {
  const path = join(dir, 'model.json');
  if (!existsSync(path)) return undefined;
  let card: DefaultModelCard;
  try {
    card = JSON.parse(readFileSync(path, 'utf8')) as DefaultModelCard;
  } catch (cause) {
    throw new UsageError(`cannot read the default model card ${path}: ${(cause as Error).message}; rebuild it with npm run train:default`, { cause });
  }
  return {
    dir,
    card,
    file(variant, kind) {
      const name = card.models[variant]?.files[kind];
      return name === undefined ? undefined : join(dir, name);
    },
  };
}

/** The shipped online step model (`.onnx`) when it is there: what `tsm demo` and the browser demo use by default. */
export function findDefaultOnlineOnnx(dir: string = DEFAULT_MODEL_DIR): string | undefined {
  const file = readDefaultModel(dir)?.file('online', 'onlineOnnx');
  return file !== undefined && existsSync(file) ? file : undefined;
}
