/**
 * Segment consensus, mirroring TSM's `ops/basic_ops.py` `ConsensusModule`: how TSN fuses per-segment scores.
 */
import type { GraphBuilder, Value } from '../graph/index.js';
import { Module } from '../nn/index.js';
import { oneOf } from '../util/check.js';

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
    this.consensusType = oneOf('consensus type', consensusType, CONSENSUS_TYPES) === 'avg' ? 'avg' : 'identity';
  }

  forward(g: GraphBuilder, x: Value): Value {
    return this.consensusType === 'avg' ? g.reduceMean(x, [this.dim], true) : x;
  }
}
