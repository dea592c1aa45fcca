/**
 * Sharded evaluation: `--shard i/n` takes every n-th video (those whose position p in the list has
 * `p % n === i`), so n jobs started by any scheduler cover the list exactly once and `tsm merge-scores` puts
 * the pieces back together.
 */
import { UsageError } from '../errors.js';

/** One of `count` shards, `index` counted from 0. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/**
 * Parses `i/n` (0 <= i < n), as `--shard` takes it. A Slurm array `--array=0-(n-1)` passes
 * `$SLURM_ARRAY_TASK_ID/n`.
 * @throws {UsageError} naming the expected form
 * @example parseShard('2/8') // { index: 2, count: 8 }
 */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw UsageError.expected('shard', 'i/n with 0 <= i < n, e.g. 0/4 (shards are counted from 0)', text);
  }
  return { index, count };
}

/** Whether the video at `position` belongs to `shard` (every video does when there is none). */
export const inShard = (position: number, shard?: Shard): boolean => !shard || position % shard.count === shard.index;

/** The positions of `total` videos that `shard` takes, in order. */
export function shardPositions(total: number, shard?: Shard): number[] {
  const out: number[] = [];
  for (let p = 0; p < total; p++) if (inShard(p, shard)) out.push(p);
  return out;
}

/** `shard-2-of-8`, the tag of a shard's file names. */
export const shardTag = (shard: Shard): string => `shard-${shard.index}-of-${shard.count}`;
