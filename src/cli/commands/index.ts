/** Every `tsm` verb, registered in this order. Each file registers one verb (or a small family) on the program. */
import type { Command } from 'commander';
import { registerInfer } from './infer.js';
import { registerTrain } from './train.js';
import { registerZoo } from './zoo.js';
import { registerDemo } from './demo.js';
import { registerExport } from './export.js';
import { registerInferOnline } from './infer-online.js';
import { registerExtractFrames } from './data-extract-frames.js';
import { registerMakeLists } from './data-make-lists.js';
import { registerMakeSynthetic } from './data-make-synthetic.js';
import { registerInspectCheckpoint } from './checkpoint-inspect.js';
import { registerTest } from './test.js';
import { registerPredict } from './predict.js';
import { registerMergeScores } from './merge-scores.js';
import { registerStart } from './start.js';

/** Adds one verb (its flags, help and action) to the program. */
export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [registerInfer, registerInferOnline, registerTrain, registerExtractFrames, registerMakeLists, registerMakeSynthetic, registerExport, registerDemo, registerZoo, registerInspectCheckpoint, registerTest, registerPredict, registerMergeScores, registerStart];
