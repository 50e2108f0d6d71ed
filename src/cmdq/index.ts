export * from './opcodes.js';
export * from './features.js';
export * from './check.js';
export * from './command.js';
export * from './codec.js';
export * from './writers.js';
export * from './buffer.js';
export * from './json.js';
