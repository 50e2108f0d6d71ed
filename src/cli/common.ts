/**
 * Shared CLI plumbing: exit codes, reading inputs, printing exactly one JSON document, and turning errors
 * into one clear line on stderr.
 */
import { readFileSync } from 'node:fs';
import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { InputError, parseUint, parseBool } from '../parse.js';

export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;

export const SCHEMA_VERSION = 1;

/** A usage problem found by a command (bad flag value, unreadable input): exit 2 with one line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Print exactly one JSON document on stdout. */
export function printJson(doc: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...doc }, null, 2) + '\n');
}

/** Human text goes to stdout unless --json is active (then it must not be printed at all). */
export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function warn(line: string): void {
  process.stderr.write(line + '\n');
}

/** Read a file (or stdin for `-` or when no file is given). */
export async function readInput(file: string | undefined): Promise<Buffer> {
  try {
    if (file === undefined || file === '-') {
      if (process.stdin.isTTY) throw new UsageError('no input: give a file or pipe data on stdin');
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    }
    return readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${file ?? 'stdin'}: ${code ?? (e as Error).message}`);
  }
}

/** Parse JSON text, or a usage error naming the source and position. */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${source}: invalid JSON: ${(e as Error).message}`);
  }
}

/** commander option parsers that accept 0x hex, decimal and size suffixes. */
export function uintOption(field: string) {
  return (value: string): number => {
    try {
      return parseUint(value, field);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

export function boolOption(field: string) {
  return (value: string): boolean => {
    try {
      return parseBool(value, field);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

export function choiceOption<T extends string>(field: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value))
      throw new InvalidArgumentError(`${field} must be one of ${choices.join(', ')} (got ${JSON.stringify(value)})`);
    return value as T;
  };
}

/**
 * Run a command action: UsageError / InputError → exit 2 with one line; anything unexpected → exit 3 with
 * one line (the stack only with SMMUV3_TLBI_DEBUG=1). The action returns the exit code.
 */
export function action<A extends unknown[]>(fn: (...args: A) => number | Promise<number>) {
  return async (...args: A): Promise<void> => {
    try {
      process.exitCode = await fn(...args);
    } catch (e) {
      process.exitCode = reportError(e);
    }
  };
}

export function reportError(e: unknown): number {
  if (e instanceof UsageError || e instanceof InputError) {
    warn(`error: ${e.message}`);
    return EXIT_USAGE;
  }
  if (e instanceof CommanderError) return e.exitCode;
  warn(`internal error: ${(e as Error)?.message ?? String(e)}`);
  if (process.env.SMMUV3_TLBI_DEBUG) warn((e as Error)?.stack ?? '');
  return EXIT_INTERNAL;
}

/** Add an example section to a command's --help. */
export function withExamples(cmd: Command, ...examples: string[]): Command {
  return cmd.addHelpText('after', '\nExamples:\n' + examples.map((x) => `  $ ${x}`).join('\n') + '\n');
}
