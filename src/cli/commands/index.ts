/** Every `tsm` verb, registered in this order. Each file registers one verb (or a small family) on the program. */
import type { Command } from 'commander';

/** Adds one verb (its flags, help and action) to the program. */
export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [];
