/**
 * PyTorch checkpoint I/O: read `.pth` files in the zip (torch >= 1.6) and legacy formats with our own pickle reader
 * (an allow-list of globals; loading never runs code, unlike `torch.load`), write ones `torch.load` reads back
 * exactly, and read/write `.npy`.
 *
 * @example
 * import { readPth, extractStateDict, stripPrefix, writePth, pyFloat } from './checkpoint/index.js';
 * const { stateDict, meta } = extractStateDict(await readPth('TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth'));
 * const weights = stripPrefix(stateDict, 'module.');
 * await writePth('out.pth', { stateDict, meta: { epoch: meta.epoch, arch: meta.arch, best_prec1: pyFloat(meta.best_prec1 ?? 0) } });
 */
export {
  type PthFile,
  type PthFormat,
  type ReadPthOptions,
  LEGACY_MAGIC_NUMBER,
  LEGACY_PROTOCOL_VERSION,
  parsePth,
} from './pth-reader.js';
export {
  type CheckpointContents,
  type RootContents,
  type StateDictLike,
  type WritePthOptions,
  encodePth,
} from './pth-writer.js';
export { readPth, writePth } from './read-file.js';
export {
  type CheckpointMeta,
  type ExtractStateDictOptions,
  type ExtractedStateDict,
  extractStateDict,
  stripPrefix,
} from './state-dict.js';
export {
  type PickleValue,
  type PyKey,
  type PyRecord,
  NumpyDType,
  OrderedDict,
  PyFloat,
  PyGlobal,
  PyTuple,
  TorchStorage,
  describePy,
  isHostTensor,
  pyFloat,
} from './py-values.js';
export { type UnpickleHooks, type UnpickleOptions, type Unpickled, unpickle } from './pickle-reader.js';
export { type PickleWriterHooks, PickleWriter, encodePickle } from './pickle-writer.js';
export { ALLOWED_GLOBALS } from './torch-globals.js';
export { encodeNpy, parseNpy, readNpy, writeNpy } from './npy.js';
