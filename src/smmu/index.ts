export * from './interval.js';
export * from './walker.js';
export * from './caches.js';
export * from './queue.js';
export * from './streams.js';
export * from './model.js';
export * from './checker.js';
export * from './rng.js';
