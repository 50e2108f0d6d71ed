/**
 * Encode typed commands into 16-byte little-endian entries and decode entries back, with the validator of
 * `check.ts` deciding legality both ways: the encoder refuses exactly what the decoder calls illegal.
 */
import { TWO_POW_32 } from '../bits.js';
import { CheckedEntry, CommandChecker, FIELD_IDS, prepareValues, type CommandIssue } from './check.js';
import { COMMAND_SHAPES, type Command, type CommandOf, type CommandShape } from './command.js';
import { OPCODE_SPECS, Opcode, type CommandName, type FieldName } from './opcodes.js';

export type DecodeResult =
  | { readonly ok: true; readonly command: Command; readonly warnings: readonly CommandIssue[] }
  | {
      readonly ok: false;
      readonly opcode: number;
      readonly error: CommandIssue;
      readonly warnings: readonly CommandIssue[];
    };

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

/** The shape of each command by opcode (undefined for reserved opcodes): an index load, not a keyed lookup. */
const SHAPE_BY_OPCODE: (CommandShape<CommandName> | undefined)[] = Array.from({ length: 256 }, (_, op) => {
  const n = (Object.keys(Opcode) as CommandName[]).find((x) => Opcode[x] === op);
  return n === undefined ? undefined : (COMMAND_SHAPES[n] as CommandShape<CommandName>);
});

/** Build the typed command from a checked entry's values (the entry must be of a defined opcode). */
export function commandFromChecked(e: CheckedEntry): Command {
  return SHAPE_BY_OPCODE[e.opcode]!.build(e.values) as Command;
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
    (bytes[offset + k]! |
      (bytes[offset + k + 1]! << 8) |
      (bytes[offset + k + 2]! << 16) |
      (bytes[offset + k + 3]! << 24)) >>>
    0;
  return decodeHalves(h(0), h(4), h(8), h(12), checker);
}

function fieldError(name: CommandName, field: string, value: number, reason: string): CommandEncodeError {
  return new CommandEncodeError({ kind: 'ILLEGAL', rule: 'reserved-value', command: name, field, value, reason });
}

/** What the encoder needs to know about one command, computed once from OPCODE_SPECS. */
interface EncodeLayout {
  readonly opcode: number;
  readonly shape: CommandShape<CommandName>;
  readonly names: readonly FieldName[];
  readonly ids: Int32Array;
  readonly half: Int32Array;
  readonly lsb: Int32Array;
  readonly max: Float64Array;
  readonly addrName: FieldName | null;
  readonly addrId: number;
  readonly addrLimit: number; // 2^(msb+1)
  readonly addrAlign: number; // 2^lsb
  readonly addrMsb: number;
  readonly addrLsb: number;
}

const ENCODE_LAYOUT: ReadonlyMap<string, EncodeLayout> = new Map(
  (Object.keys(OPCODE_SPECS) as CommandName[]).map((n): [string, EncodeLayout] => {
    const s = OPCODE_SPECS[n];
    return [
      n,
      {
        opcode: Opcode[n],
        shape: COMMAND_SHAPES[n] as CommandShape<CommandName>,
        names: s.fields.map((f) => f.name),
        ids: Int32Array.from(s.fields, (f) => FIELD_IDS[f.name]),
        half: Int32Array.from(s.fields, (f) => f.half),
        lsb: Int32Array.from(s.fields, (f) => f.lsb),
        max: Float64Array.from(s.fields, (f) => 2 ** f.width - 1),
        addrName: s.addr ? s.addr.name : null,
        addrId: s.addr ? FIELD_IDS[s.addr.name] : -1,
        addrLimit: s.addr ? 2 ** (s.addr.msb + 1) : 0,
        addrAlign: s.addr ? 2 ** s.addr.lsb : 1,
        addrMsb: s.addr ? s.addr.msb : -1,
        addrLsb: s.addr ? s.addr.lsb : 0,
      },
    ];
  }),
);

/** Scratch state of the encoder (single-threaded, not re-entrant): the validator's record and the halves. */
const encScratch = new CheckedEntry();
const encHalves = new Uint32Array(4);

/** The value of field `f` of `cmd` as given, for error messages. */
function given(cmd: Command, f: string): number {
  const x = (cmd as unknown as Record<string, unknown>)[f];
  return typeof x === 'number' ? x : Number(x);
}

/**
 * Build the halves of `cmd` into `encHalves`: read its fields into the validator's record (one plain
 * property read each, through COMMAND_SHAPES), check each fits its field, place it, then judge the entry.
 */
function encodeToScratch(cmd: Command, checker: CommandChecker): void {
  const name = cmd.name as CommandName;
  const lay = ENCODE_LAYOUT.get(name);
  if (lay === undefined)
    throw new CommandEncodeError({
      kind: 'ILLEGAL',
      rule: 'reserved-opcode',
      field: 'name',
      value: 0,
      reason: `unknown command name ${JSON.stringify(cmd.name)}`,
    });
  const v = encScratch.values;
  prepareValues(encScratch, lay.opcode);
  lay.shape.read(cmd as CommandOf<CommandName>, v);
  let h0 = lay.opcode;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  const ids = lay.ids;
  for (let k = 0; k < ids.length; k++) {
    const x = v[ids[k]!]!;
    const max = lay.max[k]!;
    // An integer in [0, 2^32) survives >>> 0 unchanged (NaN, negatives and fractions do not).
    if (!(x >>> 0 === x && x <= max)) {
      const fname = lay.names[k]!;
      throw fieldError(name, fname, given(cmd, fname), `${fname} must be an integer in [0, ${max}]`);
    }
    const bits = x << lay.lsb[k]!;
    const half = lay.half[k]!;
    if (half === 0) h0 |= bits;
    else if (half === 1) h1 |= bits;
    else if (half === 2) h2 |= bits;
    else h3 |= bits;
  }
  if (lay.addrName !== null) {
    const a = lay.addrName;
    const x = v[lay.addrId]!;
    if (!(x >= 0 && x < lay.addrLimit && Math.floor(x) === x))
      throw fieldError(name, a, given(cmd, a), `${a} must be a byte address below 2^${lay.addrMsb + 1}`);
    const hi = Math.floor(x / TWO_POW_32);
    const lo = x - hi * TWO_POW_32; // exact: x is an integer below 2^64 with at most 53 significant bits
    // The alignment (at most 2^12) concerns the low half only; `&` sees lo modulo 2^32, which is lo.
    if ((lo & (lay.addrAlign - 1)) !== 0)
      throw fieldError(
        name,
        a,
        x,
        `${a} must be a multiple of 0x${lay.addrAlign.toString(16)} (bits [${lay.addrLsb - 1}:0] are not encoded)`,
      );
    h2 |= lo;
    h3 |= hi;
  }
  if (!checker.checkWithValues(h0, h1, h2, h3, encScratch)) throw new CommandEncodeError(encScratch.error!);
  encHalves[0] = h0;
  encHalves[1] = h1;
  encHalves[2] = h2;
  encHalves[3] = h3;
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
  encodeToScratch(cmd, checker);
  const i = slot * 4;
  u32[i] = encHalves[0]!;
  u32[i + 1] = encHalves[1]!;
  u32[i + 2] = encHalves[2]!;
  u32[i + 3] = encHalves[3]!;
}

/** Encode `cmd` and return its halves [h0, h1, h2, h3]. Throws like encodeCommand. */
export function encodeHalves(
  cmd: Command,
  checker: CommandChecker = DEFAULT_CHECKER,
): [number, number, number, number] {
  encodeToScratch(cmd, checker);
  return [encHalves[0]!, encHalves[1]!, encHalves[2]!, encHalves[3]!];
}

/** The fields of `name` that are byte addresses (printed as hex strings at the JSON edge). */
export function isAddressField(f: FieldName | string): boolean {
  return f === 'addr' || f === 'msiaddr';
}
