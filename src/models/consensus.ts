/**
 * Segment consensus, mirroring TSM's `ops/basic_ops.py` `ConsensusModule`: how TSN fuses per-segment scores.
 */
import { UsageError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/index.js';
import { Module } from '../nn/index.js';

/** Consensus types. `rnn` is accepted as the original does, and means `identity`. */
export const CONSENSUS_TYPES = Object.freeze({ avg: 'avg', identity: 'identity', rnn: 'rnn' } as const);
/** One of {@link CONSENSUS_TYPES}. */
export type ConsensusType = keyof typeof CONSENSUS_TYPES;

/**
 * Mirrors `ConsensusModule(consensus_type, dim=1)` on `[B, T, K]`: `avg` is the mean over T (kept as size 1),
 * `identity` (and `rnn`) pass the scores through. No parameters.
 */
export class ConsensusModule extends Module {
  readonly consensusType: 'avg' | 'identity';

  constructor(
    consensusType: ConsensusType,
    readonly dim = 1,
  ) {
    super();
    if (!(consensusType in CONSENSUS_TYPES)) {
      throw new UsageError(`Unsupported consensus type: ${String(consensusType)}. Must be one of [${Object.keys(CONSENSUS_TYPES).join(', ')}]`);
    }
    this.consensusType = consensusType === 'avg' ? 'avg' : 'identity';
  }

  forward(g: GraphBuilder, x: Value): Value {
    return this.consensusType === 'avg' ? g.reduceMean(x, [this.dim], true) : x;
  }
}
