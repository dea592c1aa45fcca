/**
 * The rewrites a training step applies to the traced forward graph, one pass per file, each a function from a
 * graph to a new graph (plus the inputs it adds, where the runner must feed them). Browser-safe: the page builds
 * step graphs too.
 */
export { bakeFrozenParameters } from './bake-frozen-parameters.js';
export { type ScratchInput, batchNormScratchStatistics } from './batch-norm-scratch-statistics.js';
export { type DropoutMaskInput, dropoutAsMaskInputs } from './dropout-as-mask-inputs.js';
export { foldInferenceBatchNorm } from './fold-inference-batch-norm.js';
export { pointwiseConvAsGemm } from './pointwise-conv-as-gemm.js';
export { pruneUnused } from './prune-unused.js';
