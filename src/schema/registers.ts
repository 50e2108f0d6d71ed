/**
 * Reading a registers document (`audit --regs`, a capture's cmdq.json): strict JSON, the registers schema,
 * then the values as numbers — each parsed once, here. 32-bit registers become numbers; 64-bit registers
 * keep their two halves. The queue's size may be given three ways (CMDQ_BASE.LOG2SIZE, `log2size`,
 * `bytes`); when more than one is given they must agree.
 */
import { InputError } from '../parse.js';
import { validate as validateRegisters } from './generated/registers.js';
import { parseStrictJson } from './json.js';
import { REGISTERS, INDEXED, indexedBits } from './registers-table.js';
import { checkDocument, type Validator } from './validate.js';

export interface Halves {
  readonly lo: number;
  readonly hi: number;
}

export interface RegisterFile {
  /** Every register given, by name without the SMMU_ prefix, as [lo, hi] halves (hi is 0 for 32-bit ones). */
  readonly values: ReadonlyMap<string, Halves>;
  /** The queue size as log2 of its entries, from CMDQ_BASE.LOG2SIZE, `log2size` or `bytes`. */
  readonly log2size?: number;
  /** `base`: the queue's base address as `capture` wrote it. */
  readonly base?: number;
}

const WIDTH = new Map<string, 32 | 64>(REGISTERS.map((r) => [r.name, r.bits]));

function widthOf(name: string): 32 | 64 {
  const w = WIDTH.get(name);
  if (w !== undefined) return w;
  const base = INDEXED.find((b) => name.replace(/^[SR]_/, '').startsWith(b));
  return base === undefined ? 32 : indexedBits(base);
}

/** A schema-checked value (a JSON number or a 0x hex string) as halves. */
function halves(v: number | string): Halves {
  if (typeof v === 'number') return { lo: v % 2 ** 32, hi: Math.floor(v / 2 ** 32) };
  const hex = v.slice(2).replace(/^0+/, '').padStart(16, '0');
  return { lo: parseInt(hex.slice(8), 16), hi: parseInt(hex.slice(0, 8), 16) };
}

/** Check an already parsed registers document; `source` names it in errors (`--regs`, a cmdq.json path). */
export function registersFromDocument(doc: unknown, source: string): RegisterFile {
  const raw = checkDocument<Record<string, number | string>>(validateRegisters as Validator, doc, source);
  const values = new Map<string, Halves>();
  const spelled = new Map<string, string>();
  let base: number | undefined;
  let log2size: number | undefined;
  let bytes: number | undefined;
  for (const [key, v] of Object.entries(raw)) {
    if (key === 'log2size') log2size = v as number;
    else if (key === 'bytes') bytes = v as number;
    else if (key === 'base') {
      const h = halves(v);
      if (h.hi >= 2 ** 21)
        throw new InputError(`${source}: base`, `${String(v)} is above 2^53, so it cannot be held exactly`);
      base = h.hi * 2 ** 32 + h.lo;
    } else {
      const name = key.startsWith('SMMU_') ? key.slice(5) : key;
      const before = spelled.get(name);
      if (before !== undefined)
        throw new InputError(`${source}: ${key}`, `the register is given twice (as ${before} and ${key})`);
      spelled.set(name, key);
      values.set(name, halves(v));
      if (widthOf(name) === 32 && values.get(name)!.hi !== 0)
        throw new InputError(`${source}: ${key}`, `${String(v)} is wider than 32 bits`);
    }
  }
  let size = log2size;
  const cmdqBase = values.get('CMDQ_BASE');
  if (cmdqBase !== undefined) {
    // SMMU_CMDQ_BASE.LOG2SIZE is bits [4:0] (IHI 0070 §6.3.25); the queue is at most 2^19 entries.
    const fromBase = cmdqBase.lo & 0x1f;
    const key = spelled.get('CMDQ_BASE')!;
    if (fromBase > 19)
      throw new InputError(
        `${source}: ${key}`,
        `LOG2SIZE (bits [4:0]) is ${fromBase}; a command queue has at most 2^19 entries`,
      );
    if (size !== undefined && size !== fromBase)
      throw new InputError(`${source}: log2size`, `${size} disagrees with ${key}.LOG2SIZE = ${fromBase}`);
    size = fromBase;
  }
  if (bytes !== undefined) {
    const fromBytes = Math.log2(bytes / 16);
    if (!Number.isInteger(fromBytes))
      throw new InputError(`${source}: bytes`, `${bytes} is not 16 times a power of two (16 bytes per entry)`);
    if (size !== undefined && size !== fromBytes)
      throw new InputError(
        `${source}: bytes`,
        `${bytes} disagrees with a queue of 2^${size} entries (${16 * 2 ** size} bytes)`,
      );
    size = fromBytes;
  }
  return { values, ...(size !== undefined ? { log2size: size } : {}), ...(base !== undefined ? { base } : {}) };
}

/** Parse registers JSON text (strict: no duplicate key, no number above 2^53, no unknown key). */
export function parseRegisters(text: string, source: string): RegisterFile {
  return registersFromDocument(parseStrictJson(text, source), source);
}
