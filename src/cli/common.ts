/**
 * Shared CLI plumbing: exit codes, reading inputs, printing exactly one JSON document, and turning errors
 * into one clear line on stderr.
 */
import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { InputError, parseBool, parseUintIn, type UintBounds } from '../parse.js';
import { EXIT_INTERNAL, EXIT_USAGE, UsageError } from './errors.js';
import { readWhole } from './input.js';
import { parseStrictJson } from '../schema/json.js';
import { OutputClosed, OutputFailed, output } from './output.js';
import { forStdout } from './colour.js';

export { EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE } from './errors.js';

export const SCHEMA_VERSION = 1;

/** A usage problem found by a command (bad flag value, unreadable input): exit 2 with one line. */
export { UsageError };

/** Print exactly one JSON document on stdout. */
export function printJson(doc: Record<string, unknown>): void {
  output.write(JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...doc }, null, 2) + '\n');
}

/** Human text goes to stdout unless --json is active (then it must not be printed at all). */
export function out(line: string): void {
  output.write(forStdout(line) + '\n');
}

export function warn(line: string): void {
  process.stderr.write(line + '\n');
}

/**
 * Read a whole (small) input: a file, or stdin for `-` or when no file is given. Gzip is not inflated here.
 * Bounded: an input larger than the whole-input limit (WHOLE_INPUT_LIMIT, 128 MiB) — `/dev/zero` for instance — is
 * a usage error, as is a missing file or a directory.
 */
export async function readInput(file: string | undefined): Promise<Buffer> {
  return readWhole(file);
}

/**
 * Parse JSON text strictly (src/schema/json.ts): a duplicate key, a number that JSON.parse would round
 * and too deep a nesting are usage errors naming the source and the field, like a syntax error.
 */
export function parseJsonText(text: string, source: string): unknown {
  return parseStrictJson(text, source);
}

/** Bounds of the CLI's register and address-size flags. */
export const U32: UintBounds = { max: 0xffffffff };

/**
 * commander option parsers that accept 0x hex, decimal and size suffixes, within `bounds` (every CLI number
 * has some: a register is 32 bits, a size of addresses at most 52 bits…).
 */
export function uintOption(field: string, bounds: UintBounds = {}) {
  return (value: string): number => {
    try {
      return parseUintIn(value, field, bounds);
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
    output.begin();
    try {
      const code = await fn(...args);
      output.status = Math.max(output.status, code);
      await output.end();
      process.exitCode = code;
    } catch (e) {
      const code = reportError(e);
      // A streamed document partly on stdout is completed with the error (one whole document), else dropped.
      await output.fail({ exitCode: code, message: failureMessage(e) });
      process.exitCode = code;
    }
  };
}

/** The message reportError prints for `e`, without its `error: ` prefix. */
function failureMessage(e: unknown): string {
  if (e instanceof UsageError || e instanceof InputError || e instanceof CommanderError) return e.message;
  return `internal error: ${(e as Error)?.message ?? String(e)}`;
}

export function reportError(e: unknown): number {
  // A closed pipe: quiet, with the status the run had so far.
  if (e instanceof OutputClosed) return output.status;
  if (e instanceof OutputFailed) {
    warn(`error: cannot write output: ${e.message}`);
    return EXIT_USAGE;
  }
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
