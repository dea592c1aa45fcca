/**
 * The online demo fixture (`online_mobilenetv2` in ../shared/fixtures/manifest.json): its checkpoint, exported
 * through our export path, and the three PyTorch steps (frame in; logits and ten buffers out) at 112x112.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOnlineExportGraph, writeExport, type ExportResult } from '../../src/deploy/export.js';
import { loadOnlineMobileNetV2 } from '../../src/models/online.js';
import type { HostTensor } from '../../src/tensor/index.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';

/** One PyTorch step of the fixture. */
export interface FixtureStep {
  readonly input: HostTensor;
  readonly logits: HostTensor;
  readonly outBuffers: readonly HostTensor[];
}

/** Tolerance of the fixture (|ours - torch| <= atol + rtol * |torch|). */
export const onlineTolerance = (): { atol: number; rtol: number } => {
  const t = fixtureCase('online_mobilenetv2').tolerance as { atol: number; rtol: number };
  return { atol: t.atol, rtol: t.rtol };
};

/** Path of the fixture's plain state dict. */
export const onlineCheckpoint = (): string => fixturePath((fixtureCase('online_mobilenetv2').files as { state_dict: string }).state_dict);

/** The fixture's three steps. */
export async function onlineSteps(): Promise<FixtureStep[]> {
  const files = fixtureCase('online_mobilenetv2').files as { steps: { input: string; logits: string; out_buffers: string[] }[] };
  return Promise.all(
    files.steps.map(async (s) => ({
      input: await fixtureNpy(s.input),
      logits: await fixtureNpy(s.logits),
      outBuffers: await Promise.all(s.out_buffers.map((f) => fixtureNpy(f))),
    })),
  );
}

/** Exports the fixture checkpoint as an online model into a fresh temp folder. */
export async function exportOnlineFixture(opts: { inputSize?: number; opset?: number; labels?: readonly string[] } = {}): Promise<ExportResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-export-'));
  const { model } = await loadOnlineMobileNetV2(onlineCheckpoint());
  return writeExport(buildOnlineExportGraph(model, { inputSize: opts.inputSize ?? 112, opset: opts.opset, labels: opts.labels }), join(dir, 'online.onnx'));
}
