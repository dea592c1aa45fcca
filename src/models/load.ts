/**
 * Loading TSM checkpoints: work out the TSN configuration (options, then the file name, then the checkpoint's own
 * `arch` field and state dict), build the model, load the weights with clear errors, and run it on onnxruntime.
 * Node only.
 */
import { type CheckpointMeta, extractStateDict, readPth, stripPrefix } from '../checkpoint/index.js';
import { CheckpointError, type CheckpointErrorCode, ShapeError, UsageError } from '../errors.js';
import { encodeOnnx } from '../graph/index.js';
import { type Device, type Session, type SessionOptions, createSession } from '../runtime/index.js';
import { type HostTensor, toFloat32 } from '../tensor/index.js';
import { ARCHS, type Arch, type Modality, type NameConfig, channelsPerFrame, checkpointStem, defaultNewLength, parseArch, parseCheckpointName } from './config.js';
import { inferMobileNetV2WidthMult, mobileNetV2Channels } from './mobilenet-v2.js';
import { RESNET_ARCHS, isBottleneckResNet } from './resnet.js';
import type { ShiftMode, ShiftPlace } from './temporal-shift.js';
import { TSN, type TsnOptions, buildTsnGraph } from './tsn.js';

/** Configuration that overrides what the file name and checkpoint say (every field optional). */
export interface TsnOverrides extends Partial<Omit<TsnOptions, 'baseModel'>> {
  /** Backbone name, e.g. `resnet50`, `mobilenetv2`, `BNInception`. */
  readonly arch?: string;
}

/** What a state dict's keys and shapes reveal about the model that saved it. */
export interface StateDictFacts {
  readonly arch?: Arch;
  readonly family?: 'resnet' | 'mobilenetv2' | 'bninception';
  readonly numClass?: number;
  /** `new_fc.*` present: trained with dropout > 0. */
  readonly hasNewFc: boolean;
  readonly modality?: Modality;
  readonly newLength?: number;
  readonly isShift: boolean;
  readonly shiftPlace?: ShiftPlace;
  readonly temporalPool: boolean;
  readonly nonLocal: boolean;
  /** MobileNetV2 channel multiplier the block widths show. */
  readonly widthMult?: number;
  /** A key that shows the shift, for messages. */
  readonly shiftKey?: string;
  /** The first few keys, for messages. */
  readonly firstKeys: readonly string[];
}

const firstConvKey: Readonly<Record<NonNullable<StateDictFacts['family']>, string>> = {
  resnet: 'base_model.conv1.weight',
  mobilenetv2: 'base_model.features.0.0.weight',
  bninception: 'base_model.conv1_7x7_s2.weight',
};

/** Reads {@link StateDictFacts} from a TSN state dict whose keys start with `base_model.` / `new_fc.`. */
export function inspectStateDict(sd: ReadonlyMap<string, HostTensor>): StateDictFacts {
  const keys = [...sd.keys()];
  const has = (re: RegExp) => keys.find((k) => re.test(k));
  let family: StateDictFacts['family'];
  if (sd.has(firstConvKey.mobilenetv2)) family = 'mobilenetv2';
  else if (sd.has(firstConvKey.bninception)) family = 'bninception';
  else if (has(/^base_model\.layer1\./)) family = 'resnet';
  const temporalPool = family === 'resnet' && has(/^base_model\.layer2\.net\./) !== undefined;
  const nonLocal = has(/\.nl\.(g|theta|phi|W)\./) !== undefined;
  let arch: Arch | undefined;
  if (family === 'mobilenetv2') arch = 'mobilenetv2';
  else if (family === 'bninception') arch = 'BNInception';
  else if (family === 'resnet') {
    const counts = [1, 2, 3, 4].map((s) => {
      const idx = new Set(keys.flatMap((k) => k.match(new RegExp(`^base_model\\.layer${s}\\.(?:net\\.)?(\\d+)\\.`))?.[1] ?? []));
      return idx.size;
    });
    const bottleneck = has(/^base_model\.layer1\.(?:net\.)?0\.(?:net\.|block\.)?(?:net\.)?conv3\./) !== undefined;
    arch = (Object.keys(RESNET_ARCHS) as (keyof typeof RESNET_ARCHS)[]).find((a) => {
      const spec = RESNET_ARCHS[a];
      return (spec.block.expansion === 4) === bottleneck && spec.layers.every((n, i) => n === counts[i]);
    });
  }
  const blockShift = has(/^base_model\.layer\d\.(?:net\.)?\d+\.net\./);
  const resShift = has(/\.conv1\.net\.weight$/) ?? has(/\.conv\.0\.net\.weight$/);
  const shiftKey = resShift ?? blockShift;
  const shiftPlace: ShiftPlace | undefined = blockShift ? 'block' : resShift ? 'blockres' : undefined;
  const fc = sd.get('new_fc.weight') ?? sd.get('base_model.fc.weight') ?? sd.get('base_model.classifier.weight');
  const conv = family ? sd.get(firstConvKey[family]) : undefined;
  let modality: Modality | undefined;
  let newLength: number | undefined;
  if (conv && conv.shape.length === 4) {
    const cin = conv.shape[1];
    // RGB keeps the 3-channel conv whatever new_length is; only Flow widens it to 2 * new_length
    if (cin === 3) [modality, newLength] = ['RGB', 1];
    else if (cin % 2 === 0) [modality, newLength] = ['Flow', cin / 2];
  }
  return {
    arch,
    family,
    numClass: fc && fc.shape.length === 2 ? fc.shape[0] : undefined,
    hasNewFc: sd.has('new_fc.weight'),
    modality,
    newLength,
    isShift: shiftKey !== undefined,
    shiftPlace,
    temporalPool,
    nonLocal,
    widthMult: family === 'mobilenetv2' ? inferMobileNetV2WidthMult((k) => sd.get(k)?.shape, 'base_model.') : undefined,
    shiftKey,
    firstKeys: keys.slice(0, 4),
  };
}

/** Where a resolved option came from, for messages. */
export type ConfigSource = 'option' | 'file name' | 'checkpoint' | 'input' | 'default';

/** Result of {@link resolveTsnConfig}. */
export interface ResolvedTsnConfig {
  readonly options: TsnOptions & { readonly baseModel: Arch };
  /** Source of each option that was decided. */
  readonly sources: Readonly<Partial<Record<keyof TsnOptions, ConfigSource>>>;
  /** Defaults that were used where nothing decided (to be announced). */
  readonly notes: readonly string[];
}

/** Inputs of {@link resolveTsnConfig}. */
export interface ResolveTsnConfigInput {
  /** Checkpoint path (its file name is parsed). */
  readonly path: string;
  readonly overrides?: TsnOverrides;
  /** The checkpoint's top-level entries (its `arch` field is used). */
  readonly meta?: CheckpointMeta;
  /** The state dict, `module.` already stripped. */
  readonly stateDict?: ReadonlyMap<string, HostTensor>;
  /** Channels of the input that will be run (T·C·L): decides the segment count when no option does. */
  readonly inputChannels?: number;
}

/**
 * Decides every TSN option for a checkpoint: `overrides` first, then the file name (`TSM_<dataset>_<modality>_
 * <arch>_shift<div>_<place>_<consensus>_segment<N>_e<E>[_dense][_nl]`), then the checkpoint (`arch` field, then
 * what the state dict's keys and shapes show), then the original's defaults. Conflicts between what was asked
 * and what the weights hold are reported with both values.
 * @throws {UsageError} naming every option nothing decides (arch, num_class, num_segments) and how to pass it
 * @throws {CheckpointError} `TSM_CHECKPOINT_ARCH` when the weights belong to another backbone or shift layout,
 *   `TSM_CHECKPOINT_SHAPE` when the class count or input channels differ
 */
export function resolveTsnConfig(input: ResolveTsnConfigInput): ResolvedTsnConfig {
  const file = checkpointStem(input.path);
  const o = input.overrides ?? {};
  const name: NameConfig = parseCheckpointName(input.path);
  const facts = input.stateDict ? inspectStateDict(input.stateDict) : undefined;
  const sources: Partial<Record<keyof TsnOptions, ConfigSource>> = {};
  const notes: string[] = [];
  const pick = <K extends keyof TsnOptions, V>(key: K, ...cands: [ConfigSource, V | undefined][]): V | undefined => {
    for (const [src, v] of cands) {
      if (v !== undefined) {
        sources[key] = src;
        return v;
      }
    }
    return undefined;
  };
  const metaArch = typeof input.meta?.arch === 'string' ? input.meta.arch : undefined;
  const archName = pick('baseModel', ['option', o.arch], ['file name', name.arch], ['checkpoint', metaArch], ['checkpoint', facts?.arch]);
  const arch = archName === undefined ? undefined : parseArch(archName);
  const numClass = pick('numClass', ['option', o.numClass], ['file name', name.numClass], ['checkpoint', facts?.numClass]);
  const modality = pick('modality', ['option', o.modality], ['file name', name.modality], ['checkpoint', facts?.modality]) ?? 'RGB';
  const newLength =
    pick('newLength', ['option', o.newLength], ['checkpoint', facts?.modality === modality ? facts.newLength : undefined]) ?? defaultNewLength(modality);
  const sampleLen = channelsPerFrame(modality) * newLength;
  let inputSegments: number | undefined;
  if (input.inputChannels !== undefined && o.numSegments === undefined) {
    if (input.inputChannels % sampleLen !== 0 || input.inputChannels === 0) {
      throw new ShapeError(`input has ${input.inputChannels} channels, not a whole number of segments of ${sampleLen} channels (${modality}, new_length ${newLength})`);
    }
    inputSegments = input.inputChannels / sampleLen;
  }
  const numSegments = pick('numSegments', ['option', o.numSegments], ['input', inputSegments], ['file name', name.numSegments]);
  const isShift = pick('isShift', ['option', o.isShift], ['file name', name.isShift], ['checkpoint', facts?.isShift]) ?? false;
  const shiftPlace = pick('shiftPlace', ['option', o.shiftPlace], ['file name', name.shiftPlace], ['checkpoint', facts?.shiftPlace]) ?? 'blockres';
  // NOTE: an online (uni-directional) shift has the same keys as TSM's; only the file name or `shift_mode` says so.
  const metaShiftMode: ShiftMode | undefined = input.meta?.shift_mode === 'online' ? 'online' : undefined;
  const shiftMode = isShift ? pick('shiftMode', ['option', o.shiftMode], ['file name', name.shiftMode], ['checkpoint', metaShiftMode]) : undefined;
  let shiftDiv = pick('shiftDiv', ['option', o.shiftDiv], ['file name', name.shiftDiv]);
  if (shiftDiv === undefined) {
    shiftDiv = 8;
    sources.shiftDiv = 'default';
    if (isShift) notes.push(`shift_div is not in the file name or options: using the original's default 8 (pass --shift-div to change it)`);
  }
  const temporalPool = pick('temporalPool', ['option', o.temporalPool], ['file name', name.temporalPool || undefined], ['checkpoint', facts?.temporalPool]) ?? false;
  const nonLocal = pick('nonLocal', ['option', o.nonLocal], ['file name', name.nonLocal || undefined], ['checkpoint', facts?.nonLocal]) ?? false;
  const consensusType = pick('consensusType', ['option', o.consensusType], ['file name', name.consensusType]) ?? 'avg';
  // the dropout value does not change eval outputs, only whether new_fc exists; follow the weights
  const dropout = pick('dropout', ['option', o.dropout], ['checkpoint', facts ? (facts.hasNewFc ? 0.8 : 0) : undefined]) ?? 0.8;
  const widthMult = pick('widthMult', ['option', o.widthMult], ['checkpoint', facts?.widthMult]) ?? 1;

  // each option is named once, in its hint, so a front end can say it its own way
  const missing: [option: string, hint: string][] = [];
  if (arch === undefined) missing.push(['arch', `the backbone (pass arch, one of ${Object.keys(ARCHS).join(', ')})`]);
  if (numClass === undefined) missing.push(['numClass', 'num_class (pass numClass: N, or name the file TSM_<dataset>_...)']);
  if (numSegments === undefined) missing.push(['numSegments', 'num_segments (pass numSegments: T)']);
  if (arch === undefined || numClass === undefined || numSegments === undefined) {
    throw new UsageError(
      `cannot tell the TSN configuration of ${file}: missing ${missing.map(([, hint]) => hint).join('; ')}. The file name is not a TSM_<dataset>_<modality>_<arch>_..._segment<N>_... name and the checkpoint does not say.`,
      { options: missing.map(([option]) => option) },
    );
  }
  if (facts) checkAgainstWeights(file, facts, sources, { arch, numClass, modality, newLength, isShift, shiftPlace, temporalPool, nonLocal, widthMult });
  return {
    options: {
      ...o,
      baseModel: arch,
      numClass,
      numSegments,
      modality,
      newLength,
      isShift,
      shiftDiv,
      shiftPlace,
      ...(shiftMode ? { shiftMode } : {}),
      temporalPool,
      nonLocal,
      consensusType,
      dropout,
      ...(ARCHS[arch].family === 'mobilenetv2' ? { widthMult } : {}),
    },
    sources,
    notes,
  };
}

interface Structural {
  readonly arch: Arch;
  readonly numClass: number;
  readonly modality: Modality;
  readonly newLength: number;
  readonly isShift: boolean;
  readonly shiftPlace: ShiftPlace;
  readonly temporalPool: boolean;
  readonly nonLocal: boolean;
  readonly widthMult: number;
}

/**
 * Compares the configuration with what the weights hold; throws with both sides, where the configuration came from,
 * and the option that fits the weights (named once, in that hint, and recorded on the error).
 */
function checkAgainstWeights(file: string, f: StateDictFacts, sources: Partial<Record<keyof TsnOptions, ConfigSource>>, c: Structural): void {
  const from = (k: keyof TsnOptions) => {
    const src = sources[k];
    return `from the ${src === 'option' ? 'options' : (src ?? 'default')}`;
  };
  const wrong = (code: CheckpointErrorCode, message: string, option?: string) => new CheckpointError(code, message, option ? { options: [option] } : undefined);
  if (f.family === undefined) {
    throw wrong('TSM_CHECKPOINT_ARCH', `${file} does not hold a TSN state dict: no base_model.conv1 / base_model.features / base_model.conv1_7x7_s2 keys (first keys: ${f.firstKeys.join(', ') || 'none'})`);
  }
  const wanted = ARCHS[c.arch].family;
  // make_non_local keeps 4 blocks of layer2 and 6 of layer3, so every Bottleneck ResNet with NL looks like resnet50
  const sameResnet = f.arch === c.arch || (c.nonLocal && f.arch === 'resnet50' && isBottleneckResNet(c.arch));
  if (wanted !== f.family || (f.family === 'resnet' && f.arch !== undefined && !sameResnet)) {
    throw wrong('TSM_CHECKPOINT_ARCH', `${file} holds a ${f.arch ?? f.family} but the model is ${c.arch} (${from('baseModel')}); pass arch: '${f.arch ?? f.family}'`, 'arch');
  }
  if (f.numClass !== undefined && f.numClass !== c.numClass) {
    throw wrong('TSM_CHECKPOINT_SHAPE', `${file} has ${f.numClass} classes (classifier weight [${f.numClass}, ...]) but num_class is ${c.numClass} (${from('numClass')}); pass numClass: ${f.numClass}`, 'numClass');
  }
  if (f.family === 'mobilenetv2' && f.widthMult !== undefined && mobileNetV2Channels(f.widthMult).join() !== mobileNetV2Channels(c.widthMult).join()) {
    throw wrong('TSM_CHECKPOINT_SHAPE', `${file} holds a MobileNetV2 of width ${f.widthMult} but the model has width ${c.widthMult} (${from('widthMult')}); pass widthMult: ${f.widthMult}`, 'widthMult');
  }
  const cin = f.modality === undefined ? undefined : channelsPerFrame(f.modality) * (f.newLength ?? 1);
  if (cin !== undefined && cin !== (c.modality === 'RGB' ? 3 : channelsPerFrame('Flow') * c.newLength)) {
    throw wrong(
      'TSM_CHECKPOINT_SHAPE',
      `${file}: the first conv takes ${cin} channels (${f.modality}${f.modality === 'Flow' ? `, new_length ${String(f.newLength)}` : ''}) but the model is ${c.modality}${c.modality === 'Flow' ? ` with new_length ${c.newLength}` : ''} (${from('modality')})`,
    );
  }
  if (f.isShift !== c.isShift) {
    throw wrong(
      'TSM_CHECKPOINT_ARCH',
      f.isShift
        ? `${file} has temporal-shift weights (e.g. ${f.shiftKey}) but the model has no shift (${from('isShift')}); pass isShift: true`
        : `${file} has no temporal-shift weights (no "*.net.*" keys) but the model shifts (${from('isShift')}); pass isShift: false`,
      'isShift',
    );
  }
  if (f.isShift && f.family === 'resnet' && f.shiftPlace !== c.shiftPlace) {
    throw wrong('TSM_CHECKPOINT_ARCH', `${file} shifts at "${f.shiftPlace}" (e.g. ${f.shiftKey}) but the model shifts at "${c.shiftPlace}" (${from('shiftPlace')}); pass shiftPlace: '${f.shiftPlace}'`, 'shiftPlace');
  }
  if (f.nonLocal !== c.nonLocal) {
    // a model given non-local blocks by the options needs only leave that option out
    const fix = f.nonLocal ? 'pass nonLocal: true' : sources.nonLocal === 'option' ? 'leave out nonLocal' : 'pass nonLocal: false';
    throw wrong('TSM_CHECKPOINT_ARCH', `${file} ${f.nonLocal ? 'has' : 'has no'} non-local blocks (".nl." keys) but the model ${c.nonLocal ? 'has' : 'has none'} (${from('nonLocal')}); ${fix}`, 'nonLocal');
  }
  if (f.temporalPool !== c.temporalPool && f.family === 'resnet') {
    // keys without "layer2.net." can still come from a temporal-pool model saved by other code: only insist when
    // the weights do show the pooling wrapper
    if (f.temporalPool) {
      throw wrong('TSM_CHECKPOINT_ARCH', `${file} was saved with temporal pooling (keys "base_model.layer2.net.*") but the model has none (${from('temporalPool')}); pass temporalPool: true`, 'temporalPool');
    }
  }
}

/** Renames keys so a checkpoint saved with the other classifier layout or temporal-pool layout fits `model`. */
function reconcileKeys(sd: Map<string, HostTensor>, model: TSN): Map<string, HostTensor> {
  const own = new Set(model.namedTensors().map(([k]) => k));
  const out = new Map<string, HostTensor>();
  const last = `base_model.${model.base_model.lastLayerName}`;
  for (const [k, v] of sd) {
    let nk = k;
    if (!own.has(k)) {
      // test_models.py: base_model.classifier.* -> new_fc.* (and back, for a dropout-0 model)
      if (k.startsWith(`${last}.`) && own.has(`new_fc.${k.slice(last.length + 1)}`)) nk = `new_fc.${k.slice(last.length + 1)}`;
      else if (k.startsWith('new_fc.') && own.has(`${last}.${k.slice(7)}`)) nk = `${last}.${k.slice(7)}`;
      // temporal pooling saved without its wrapper (or the other way round)
      else if (k.startsWith('base_model.layer2.net.') && own.has(k.replace('base_model.layer2.net.', 'base_model.layer2.'))) nk = k.replace('base_model.layer2.net.', 'base_model.layer2.');
      else if (k.startsWith('base_model.layer2.') && own.has(k.replace('base_model.layer2.', 'base_model.layer2.net.'))) nk = k.replace('base_model.layer2.', 'base_model.layer2.net.');
    }
    out.set(nk, v);
  }
  return out;
}

/** Options of {@link loadTsn}. */
export interface LoadTsnOptions {
  /** Channels of the input to be run (T·C·L), to decide the segment count when nothing else does. */
  readonly inputChannels?: number;
  /** Receives announcements of defaults that were used. */
  readonly onNote?: (message: string) => void;
}

/** A loaded model and how its configuration was decided. */
export interface LoadedTsn {
  readonly model: TSN;
  readonly resolved: ResolvedTsnConfig;
  readonly meta: CheckpointMeta;
}

/**
 * Reads a TSM `.pth` checkpoint (zip or legacy), strips `module.`, decides the configuration (see
 * {@link resolveTsnConfig}) and loads the weights into a new {@link TSN}. Node only.
 * @param path the `.pth` file
 * @param overrides options that win over the file name and the checkpoint
 * @returns the model (eval mode) with its resolved configuration and the checkpoint's other entries
 * @throws {UsageError} when the configuration cannot be decided; {@link CheckpointError} when the file is
 *   unreadable or its weights do not fit (`TSM_CHECKPOINT_ARCH`, `TSM_CHECKPOINT_SHAPE`, `TSM_CHECKPOINT_KEY_MISSING`)
 * @example
 * const { model } = await loadTsnCheckpoint('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth');
 */
export async function loadTsnCheckpoint(path: string, overrides: TsnOverrides = {}, opts: LoadTsnOptions = {}): Promise<LoadedTsn> {
  const { stateDict, meta } = extractStateDict(await readPth(path));
  return tsnFromStateDict(path, stateDict, meta, overrides, opts);
}

/**
 * {@link loadTsnCheckpoint} for a checkpoint already read: decides the configuration from `path`'s name, the
 * options and the state dict, and loads the weights into a new {@link TSN}.
 * @param path the checkpoint's file name (its name may configure the model)
 * @param stateDict its tensors (a `module.` prefix is stripped)
 * @throws {UsageError} {@link CheckpointError} as {@link loadTsnCheckpoint}
 * @example
 * const { stateDict, meta } = extractStateDict(await readPth(path));
 * const { model } = tsnFromStateDict(path, stateDict, meta);
 */
export function tsnFromStateDict(
  path: string,
  stateDict: ReadonlyMap<string, HostTensor>,
  meta: CheckpointMeta,
  overrides: TsnOverrides = {},
  opts: LoadTsnOptions = {},
): LoadedTsn {
  const sd = stripPrefix(stateDict, 'module.');
  const resolved = resolveTsnConfig({ path, overrides, meta, stateDict: sd, inputChannels: opts.inputChannels });
  for (const n of resolved.notes) opts.onNote?.(n);
  const model = new TSN(resolved.options);
  model.loadStateDict(reconcileKeys(sd, model), { source: checkpointStem(path) });
  return { model: model.eval(), resolved, meta };
}

/**
 * {@link loadTsnCheckpoint} returning only the model.
 * @example const model = await loadTsn('tsm_resnet50.pth', { numSegments: 8, shiftDiv: 8 });
 */
export async function loadTsn(path: string, overrides: TsnOverrides = {}, opts: LoadTsnOptions = {}): Promise<TSN> {
  return (await loadTsnCheckpoint(path, overrides, opts)).model;
}

/** Options of {@link TsnRunner}. Every field is optional. */
export interface TsnRunnerOptions {
  /** @default 'cpu' */
  readonly device?: Device;
  /** onnxruntime intra-op threads; 0 lets it decide. @default 0 */
  readonly threads?: number;
  /** Passed straight through to {@link createSession}. */
  readonly sessionOptions?: SessionOptions['sessionOptions'];
}

/**
 * Runs a {@link TSN} on onnxruntime: one session per input size, built on first use. Node only.
 * @example
 * const runner = new TsnRunner(model, { threads: 2 });
 * const logits = await runner.logits(clip); // [B, num_class]
 */
export class TsnRunner {
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(
    readonly model: TSN,
    readonly options: TsnRunnerOptions = {},
  ) {}

  /** The shape an input must have, for messages: `[B, T·C·L, H, W]`. */
  get expectedInput(): string {
    const c = this.model.config;
    return `[B, ${this.model.inputChannels}, H, W] (${c.numSegments} segments x ${channelsPerFrame(c.modality)} channels x new_length ${c.newLength})`;
  }

  /**
   * Logits for a batch of clips laid out as TSN.forward takes them.
   * @param input float tensor `[B, T·C·L, H, W]` (other float dtypes are converted to float32)
   * @returns float32 `[B, num_class]` (`[B, T, num_class]` for identity consensus)
   * @throws {ShapeError} naming the expected and the received shape
   */
  async logits(input: HostTensor): Promise<HostTensor> {
    const s = input.shape;
    if (s.length !== 4 || s[1] !== this.model.inputChannels || s[0] < 1 || s[2] < 1 || s[3] < 1) {
      throw new ShapeError(`input should be ${this.expectedInput}, got [${s.join(',')}]`);
    }
    const session = await this.session(s[2], s[3]);
    const out = await session.run({ input: toFloat32(input) });
    return out.logits;
  }

  private session(height: number, width: number): Promise<Session> {
    const key = `${height}x${width}`;
    let s = this.sessions.get(key);
    if (!s) {
      const graph = buildTsnGraph(this.model, { height, width });
      s = createSession(encodeOnnx(graph), { device: this.options.device, threads: this.options.threads, name: `${this.model.config.baseModel} TSN (${key})`, sessionOptions: this.options.sessionOptions });
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Frees every onnxruntime session. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s).release()));
  }
}

/** Options of {@link loadModel}: configuration overrides, runner options, and where notes go. */
export interface LoadModelOptions extends TsnOverrides, TsnRunnerOptions, LoadTsnOptions {}

/**
 * Loads a TSM checkpoint and readies it to run on onnxruntime. Node only.
 * @param path a `.pth` checkpoint (released TSM names configure themselves; others need options)
 * @param opts configuration overrides (`arch`, `numSegments`, `shiftDiv`, ...), `device`, `threads`
 * @throws {UsageError} {@link CheckpointError} as {@link loadTsnCheckpoint}
 * @example
 * const runner = await loadModel('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth', { threads: 2 });
 * const logits = await runner.logits(clip);
 */
export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<TsnRunner> {
  const { device, threads, sessionOptions, inputChannels, onNote, ...overrides } = opts;
  const model = await loadTsn(path, overrides, { inputChannels, onNote });
  return new TsnRunner(model, { device, threads, sessionOptions });
}
