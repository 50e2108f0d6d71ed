/**
 * Encode typed commands into 16-byte little-endian entries and decode entries back, with the validator of
 * `check.ts` deciding legality both ways: the encoder refuses exactly what the decoder calls illegal.
 */
import { TWO_POW_32 } from '../bits.js';
import { CheckedEntry, CommandChecker, FIELD_IDS, type CommandIssue } from './check.js';
import type { Command } from './command.js';
import { OPCODE_SPECS, Opcode, fieldNames, type CommandName, type FieldName } from './opcodes.js';

export type DecodeResult =
  | { readonly ok: true; readonly command: Command; readonly warnings: readonly CommandIssue[] }
  | { readonly ok: false; readonly opcode: number; readonly error: CommandIssue; readonly warnings: readonly CommandIssue[] };

/** Thrown by the encoder: the command cannot be built (bad field value, or the result would be illegal). */
export class CommandEncodeError extends Error {
  readonly issue: CommandIssue;
  constructor(issue: CommandIssue) {
    super(`${issue.command ?? 'command'}: ${issue.field}: ${issue.reason}`);
    this.name = 'CommandEncodeError';
    this.issue = issue;
  }
}

const DEFAULT_CHECKER = new CommandChecker();

/** Build the typed command from a checked entry's values. */
export function commandFromChecked(e: CheckedEntry): Command {
  const name = e.name!;
  const out: Record<string, number | string> = { name };
  for (const fname of fieldNames(name)) out[fname] = e.values[FIELD_IDS[fname]]!;
  return out as unknown as Command;
}

const scratch = new CheckedEntry();

/** Decode the entry at `slot` of a little-endian u32 view (4 halves per entry). Never throws. */
export function decodeSlot(u32: Uint32Array, slot: number, checker: CommandChecker = DEFAULT_CHECKER): DecodeResult {
  const i = slot * 4;
  return decodeHalves(u32[i]!, u32[i + 1]!, u32[i + 2]!, u32[i + 3]!, checker);
}

/** Decode an entry given as its four 32-bit halves (h0 = w0[31:0] … h3 = w1[63:32]). Never throws. */
export function decodeHalves(
  h0: number,
  h1: number,
  h2: number,
  h3: number,
  checker: CommandChecker = DEFAULT_CHECKER,
): DecodeResult {
  const ok = checker.check(h0, h1, h2, h3, scratch);
  const warnings = scratch.warnings;
  if (!ok) return { ok: false, opcode: scratch.opcode, error: scratch.error!, warnings };
  return { ok: true, command: commandFromChecked(scratch), warnings };
}

/** Decode 16 bytes (little-endian) at `offset`. Never throws for in-bounds offsets. */
export function decodeBytes(bytes: Uint8Array, offset = 0, checker: CommandChecker = DEFAULT_CHECKER): DecodeResult {
  const h = (k: number): number =>
    (bytes[offset + k]! | (bytes[offset + k + 1]! << 8) | (bytes[offset + k + 2]! << 16) | (bytes[offset + k + 3]! << 24)) >>> 0;
  return decodeHalves(h(0), h(4), h(8), h(12), checker);
}

function fieldError(name: CommandName, field: string, value: number, reason: string): CommandEncodeError {
  return new CommandEncodeError({ kind: 'ILLEGAL', rule: 'reserved-value', command: name, field, value, reason });
}

/**
 * Encode `cmd` into slot `slot` of `u32`. Throws CommandEncodeError naming the field when a value does not
 * fit or when the result would be illegal for `checker`'s SMMU. On error the slot is left unchanged.
 */
export function encodeCommand(
  cmd: Command,
  u32: Uint32Array,
  slot: number,
  checker: CommandChecker = DEFAULT_CHECKER,
): void {
  const [h0, h1, h2, h3] = encodeHalves(cmd, checker);
  const i = slot * 4;
  u32[i] = h0;
  u32[i + 1] = h1;
  u32[i + 2] = h2;
  u32[i + 3] = h3;
}

/** Encode `cmd` and return its halves [h0, h1, h2, h3]. Throws like encodeCommand. */
export function encodeHalves(cmd: Command, checker: CommandChecker = DEFAULT_CHECKER): [number, number, number, number] {
  const name = cmd.name as CommandName;
  const spec = OPCODE_SPECS[name] as (typeof OPCODE_SPECS)[CommandName] | undefined;
  if (spec === undefined)
    throw new CommandEncodeError({
      kind: 'ILLEGAL',
      rule: 'reserved-opcode',
      field: 'name',
      value: 0,
      reason: `unknown command name ${JSON.stringify(cmd.name)}`,
    });
  const rec = cmd as unknown as Record<string, number | undefined>;
  const h = [Opcode[name], 0, 0, 0];
  for (const fl of spec.fields) {
    const v = rec[fl.name] ?? 0;
    const max = fl.width === 32 ? 0xffffffff : (1 << fl.width) - 1;
    if (!Number.isInteger(v) || v < 0 || v > max)
      throw fieldError(name, fl.name, Number(v), `${fl.name} must be an integer in [0, ${max}]`);
    h[fl.half] = (h[fl.half]! | (v << fl.lsb)) >>> 0;
  }
  if (spec.addr) {
    const a = spec.addr;
    const v = rec[a.name] ?? 0;
    const limit = 2 ** (a.msb + 1);
    const align = 2 ** a.lsb;
    if (!Number.isInteger(v) || v < 0 || v >= limit)
      throw fieldError(name, a.name, Number(v), `${a.name} must be a byte address below 2^${a.msb + 1}`);
    if (v % align !== 0)
      throw fieldError(name, a.name, v, `${a.name} must be a multiple of 0x${align.toString(16)} (bits [${a.lsb - 1}:0] are not encoded)`);
    const hi = Math.floor(v / TWO_POW_32);
    h[2] = (h[2]! | (v - hi * TWO_POW_32)) >>> 0;
    h[3] = hi >>> 0;
  }
  const out = new CheckedEntry();
  if (!checker.check(h[0]!, h[1]!, h[2]!, h[3]!, out)) throw new CommandEncodeError(out.error!);
  return [h[0]!, h[1]!, h[2]!, h[3]!];
}

/** The fields of `name` that are byte addresses (printed as hex strings at the JSON edge). */
export function isAddressField(f: FieldName | string): boolean {
  return f === 'addr' || f === 'msiaddr';
}
