import { TsmError } from '../errors.js';

/** Error codes of {@link AutodiffError}. */
export type AutodiffErrorCode =
  /** No gradient rule for an op on the path from the parameters to the loss. */
  | 'TSM_GRAD_RULE_MISSING'
  /** A rule exists, but not for this form of the op (e.g. Pad in reflect mode, a non-constant Slice). */
  | 'TSM_GRAD_UNSUPPORTED'
  /** A value on the gradient path has no static shape where the rule needs one. */
  | 'TSM_GRAD_SHAPE'
  /** A value on the gradient path is not float32/float64. */
  | 'TSM_GRAD_DTYPE';

/** The backward pass cannot be built for a graph: names the op, the node and what to change. */
export class AutodiffError extends TsmError {
  constructor(code: AutodiffErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
