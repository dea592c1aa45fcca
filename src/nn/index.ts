/**
 * Layers that mirror `torch.nn`: each builds graph nodes, and their fields are PyTorch's state-dict keys.
 */
export * from './module.js';
export * from './conv.js';
export * from './batchnorm.js';
export * from './linear.js';
export * from './containers.js';
export * from './activation.js';
export * from './pooling.js';
export * from './dropout.js';
export * from './conv3d.js';
