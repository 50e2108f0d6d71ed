/** Command-queue entries pasted as text: the kernel log, gdb and crash output, 64-bit and 32-bit hex words. */
export * from './formats.js';
export * from './reader.js';
