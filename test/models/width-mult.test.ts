/**
 * MobileNetV2 width multipliers below 1 (the shipped default model is a TSM-MobileNetV2 at width 0.5): the TSN
 * builds the original's channel counts, and loading reads the multiplier back from the block widths.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.js';
import { inspectStateDict, resolveTsnConfig } from '../../src/models/load.js';
import { inferMobileNetV2WidthMult, mobileNetV2Channels } from '../../src/models/mobilenet-v2.js';
import { onlineMobileNetV2FromStateDict } from '../../src/models/online.js';
import { TSN } from '../../src/models/tsn.js';

test('mobileNetV2Channels follows make_divisible(c * width_mult) for expanding blocks only', () => {
  assert.deepEqual(mobileNetV2Channels(1), [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320, 1280]);
  assert.deepEqual(mobileNetV2Channels(0.5), [16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160, 1280]);
  assert.equal(mobileNetV2Channels(1.4).at(-1), 1792, 'the last conv widens only above 1');
});

test('a width-0.5 TSM-MobileNetV2 has the original shapes, and its state dict says 0.5', () => {
  const model = new TSN({ numClass: 8, numSegments: 8, baseModel: 'mobilenetv2', isShift: true, widthMult: 0.5, dropout: 0.5 });
  const sd = model.stateDict();
  assert.deepEqual(sd.get('base_model.features.3.conv.0.net.weight')?.shape, [96, 16, 1, 1], 'hidden = 16 * 6, shifted block');
  assert.deepEqual(sd.get('base_model.features.17.conv.6.weight')?.shape, [160, 480, 1, 1]);
  assert.deepEqual(sd.get('new_fc.weight')?.shape, [8, 1280]);
  assert.equal(inspectStateDict(sd).widthMult, 0.5);
  assert.equal(inspectStateDict(new TSN({ numClass: 8, numSegments: 8, baseModel: 'mobilenetv2' }).stateDict()).widthMult, 1);
  assert.equal(inferMobileNetV2WidthMult(() => undefined), undefined, 'no MobileNetV2 keys');

  const resolved = resolveTsnConfig({ path: 'model.pth', overrides: { numSegments: 8 }, stateDict: sd });
  assert.equal(resolved.options.widthMult, 0.5);
  assert.equal(resolved.sources.widthMult, 'checkpoint');
  assert.throws(
    () => resolveTsnConfig({ path: 'model.pth', overrides: { numSegments: 8, widthMult: 1 }, stateDict: sd }),
    (e: unknown) => e instanceof CheckpointError && /width 0\.5 but the model has width 1 \(from the options\); pass widthMult: 0\.5$/.test(e.message),
  );
  assert.throws(() => new TSN({ numClass: 8, numSegments: 8, baseModel: 'resnet18', widthMult: 0.5 }), /MobileNetV2 only, got 0\.5 for resnet18/);
});

test('the online model reads the width from a TSN checkpoint of width 0.5', () => {
  const sd = new TSN({ numClass: 8, numSegments: 8, baseModel: 'mobilenetv2', isShift: true, widthMult: 0.5, dropout: 0.5 }).stateDict();
  const { model, layout } = onlineMobileNetV2FromStateDict(sd);
  assert.equal(layout, 'tsn');
  assert.equal(model.widthMult, 0.5);
  assert.equal(model.numClasses, 8);
});
