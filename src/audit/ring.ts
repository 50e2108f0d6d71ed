/**
 * Reading a raw command-queue dump: a whole ring (2^log2size entries of 16 bytes, little-endian) or any
 * multiple of 16 bytes, put in the order the SMMU consumes it using CMDQ_PROD / CMDQ_CONS.
 *
 * Register layout (SMMU_CMDQ_PROD / SMMU_CMDQ_CONS): bits [log2size-1:0] are the slot index and bit
 * log2size the wrap bit; CMDQ_CONS bits [30:24] hold ERR (0 none, 1 CERROR_ILL, 2 CERROR_ABT,
 * 3 CERROR_ATC_INV_SYNC). PROD == CONS (index and wrap) means empty; equal index with different wrap, full.
 */
import { Opcode, SyncCs, halvesFromBytes } from '../cmdq/index.js';
import { SYNC_CS, fieldBits, syncMsiAddr } from '../cmdq/fields.js';
import { AuditInputError } from './errors.js';
import { AuditStream, EntryFlag, type EntrySink } from './stream.js';

export interface RingRegisters {
  /** CMDQ_PROD value (index and wrap bit). */
  readonly prod?: number;
  /** CMDQ_CONS value (index, wrap bit, ERR in [30:24]). */
  readonly cons?: number;
  /** log2 of the number of entries (CMDQ_BASE.LOG2SIZE); defaults to the dump's size when it is a power of two. */
  readonly log2size?: number;
}

/** The CERROR codes CMDQ_CONS.ERR can hold. */
export const CERROR_NAMES: Readonly<Record<number, string>> = {
  0: 'CERROR_NONE',
  1: 'CERROR_ILL',
  2: 'CERROR_ABT',
  3: 'CERROR_ATC_INV_SYNC',
};

const ERR_SHIFT = 24;
const ERR_MASK = 0x7f;
const MAX_LOG2SIZE = 19; // SMMU_IDR1.CMDQS is at most 19

/** Word 0 of a CMD_SYNC overwritten by its MSI write, as restored: CS=IRQ (what MSI polling uses), MSH/MSIAttr 0. */
const RESTORED_SYNC_W0 = (Opcode.CMD_SYNC | fieldBits(SYNC_CS, SyncCs.IRQ)) >>> 0;

function isZero(u32: Uint32Array, slot: number): boolean {
  const k = slot * 4;
  return (u32[k]! | u32[k + 1]! | u32[k + 2]! | u32[k + 3]!) === 0;
}

/**
 * A CMD_SYNC whose first word was overwritten by its own MSI write (Linux's MSI polling points MSIAddr at the
 * SYNC's slot and uses MSIData 0): w0 is zero and w1 holds an MSI address equal to the slot's address
 * modulo the ring size (a queue base is aligned to the queue's size).
 */
function msiOverwrittenSync(u32: Uint32Array, at: number, slot: number, ringBytes: number): boolean {
  const k = at * 4;
  if ((u32[k]! | u32[k + 1]!) !== 0) return false;
  const addr = syncMsiAddr(u32[k + 2]!, u32[k + 3]!);
  if (addr === 0) return false;
  return addr % ringBytes === slot * 16;
}

/** The ring's log2size: as given (checked), or the dump's entry count when that is a power of two. */
function ringLog2Size(given: number | undefined, n: number, byteLength: number): number {
  let log2size = given;
  if (log2size === undefined) {
    log2size = Math.log2(n);
    if (!Number.isInteger(log2size))
      throw new AuditInputError(
        '--log2size',
        `not given, and the dump's ${n} entries are not a power of two, so the ring size is unknown`,
      );
  }
  if (!Number.isInteger(log2size) || log2size < 0 || log2size > MAX_LOG2SIZE)
    throw new AuditInputError('--log2size', `${log2size} is out of range (0 to ${MAX_LOG2SIZE})`);
  const size = 2 ** log2size;
  if (size !== n)
    throw new AuditInputError(
      `byte offset ${Math.min(n, size) * 16}`,
      `the ring holds 2^${log2size} = ${size} entries (${size * 16} bytes) but the dump has ${n} entries (${byteLength} bytes)`,
    );
  return log2size;
}

/** Read a dump into a stream, oldest entry first. Throws AuditInputError naming the byte offset or register. */
export function readRing(bytes: Uint8Array, regs: RingRegisters = {}): AuditStream {
  if (bytes.length % 16 !== 0) {
    const tail = bytes.length % 16;
    throw new AuditInputError(
      `byte offset ${bytes.length - tail}`,
      `the dump is ${bytes.length} bytes, not a multiple of 16: the last ${tail} bytes do not make a whole entry`,
    );
  }
  const n = bytes.length / 16;
  if (n === 0) throw new AuditInputError('byte offset 0', 'the dump is empty');
  const u32 = halvesFromBytes(bytes);
  const haveRegs = regs.prod !== undefined || regs.cons !== undefined || regs.log2size !== undefined;
  if (!haveRegs) return readWrittenSlots(u32, n);

  const log2size = ringLog2Size(regs.log2size, n, bytes.length);
  const size = 2 ** log2size;
  const idxMask = size - 1;
  const ptrMask = size * 2 - 1;
  const prod = regs.prod ?? (regs.cons !== undefined ? regs.cons & ptrMask : 0);
  const cons = regs.cons ?? prod;
  if (prod > ptrMask)
    throw new AuditInputError(
      '--prod',
      `0x${prod.toString(16)} has bits above the wrap bit (bit ${log2size}) set; with log2size ${log2size} CMDQ_PROD is at most 0x${ptrMask.toString(16)}`,
    );
  const consPtr = cons % 2 ** ERR_SHIFT;
  if (consPtr > ptrMask || cons >= 2 ** 31)
    throw new AuditInputError(
      '--cons',
      `0x${cons.toString(16)} has bits set outside the index, the wrap bit (bit ${log2size}) and ERR [30:24]`,
    );
  const consErr = Math.floor(cons / 2 ** ERR_SHIFT) & ERR_MASK;
  const prodIdx = prod & idxMask;
  const prodWrap = prod >>> log2size;
  const consIdx = consPtr & idxMask;
  const pending = (prod - consPtr + 2 * size) % (2 * size);
  if (pending > size)
    throw new AuditInputError(
      '--cons',
      `CMDQ_CONS 0x${cons.toString(16)} is ahead of CMDQ_PROD 0x${prod.toString(16)} (${2 * size - pending} entries): the registers are inconsistent`,
    );

  let wrapped = prodWrap === 1;
  for (let s = prodIdx; !wrapped && s < size; s++) if (!isZero(u32, s)) wrapped = true;
  const total = wrapped ? size : prodIdx;
  if (pending > total)
    throw new AuditInputError(
      '--cons',
      `${pending} entries would be pending between CONS and PROD, but only ${total} were ever written`,
    );
  const first = wrapped ? prodIdx : 0;
  // The registers say which slots were written: all of them once PROD's wrap bit is set (the producer has
  // gone round the ring), else [0, PROD). A never-written (all-zero) slot among them means the registers do
  // not belong to this ring; reading it would turn each zero slot into an illegal opcode-0 command.
  let zeros = 0;
  for (let k = 0; k < total; k++) if (isZero(u32, (first + k) & idxMask)) zeros++;
  if (zeros > 0 && (prodWrap === 1 || zeros === total)) {
    const why =
      prodWrap === 1
        ? `CMDQ_PROD 0x${prod.toString(16)} has its wrap bit (bit ${log2size}) set, so all ${size} slots were written, but ${zeros} of them are all zero (never written)`
        : `CMDQ_PROD 0x${prod.toString(16)} says ${total} entries were written, but all of them are zero`;
    throw new AuditInputError(
      '--prod',
      `the registers and the ring disagree: ${why}; check that --prod/--cons/--regs were read from the SMMU this ring belongs to`,
    );
  }
  const stream = new AuditStream('dump', Math.max(1, total));
  const ringBytes = size * 16;
  for (let k = 0; k < total; k++) {
    const s = (first + k) & idxMask;
    let flags = k >= total - pending ? EntryFlag.Pending : 0;
    if (consErr !== 0 && s === consIdx && flags !== 0) flags |= EntryFlag.Blamed;
    const index = stream.count;
    pushSlot(stream, u32, s, s, flags, ringBytes);
    if (flags & EntryFlag.Blamed) stream.cerrors.push({ index, code: consErr });
  }
  stream.ring = { log2size, prod, cons, consErr, wrapped, entries: total, pending, firstSlot: first };
  if (wrapped)
    stream.notes.push(`the ring has wrapped: reading all ${size} slots from PROD (slot ${prodIdx}), oldest first`);
  if (consErr !== 0 && pending === 0)
    stream.notes.push(
      `CMDQ_CONS.ERR = ${consErr} (${CERROR_NAMES[consErr] ?? 'reserved'}) but CONS equals PROD: no pending entry to blame`,
    );
  if (consErr !== 0 && !CERROR_NAMES[consErr])
    stream.notes.push(`CMDQ_CONS.ERR = ${consErr} is not a defined CERROR code`);
  return stream;
}

/** Push entry `at` of u32 (ring slot `s`) to the sink. */
function pushSlot(stream: EntrySink, u32: Uint32Array, at: number, s: number, flags: number, ringBytes: number): void {
  const k = at * 4;
  if (ringBytes > 0 && msiOverwrittenSync(u32, at, s, ringBytes)) {
    // Restore the opcode: a CMD_SYNC with CS=IRQ (what MSI polling uses); MSH/MSIAttr were overwritten.
    stream.push(RESTORED_SYNC_W0, 0, u32[k + 2]!, u32[k + 3]!, s, flags | EntryFlag.MsiOverwritten);
    return;
  }
  stream.push(u32[k]!, u32[k + 1]!, u32[k + 2]!, u32[k + 3]!, s, flags);
}

/** Without registers: every slot that was ever written (not all-zero), in ring order. */
function readWrittenSlots(u32: Uint32Array, n: number): AuditStream {
  let written = 0;
  for (let s = 0; s < n; s++) if (!isZero(u32, s)) written++;
  const stream = new AuditStream('dump', Math.max(1, written));
  const r = new WrittenSlotReader(stream, n);
  r.push(u32);
  r.end();
  return stream;
}

/**
 * A dump without registers read a chunk at a time: every slot that was ever written (not all-zero), in ring order,
 * to the sink. A CMD_SYNC overwritten by its MSI write is recognised from the ring's size, so only when the dump's
 * entry count (`ringEntries`) is known before reading and is a power of two; when it is not known (stdin, gzip)
 * the entries are read as they are and a note counts those that would have been recognised.
 */
export class WrittenSlotReader {
  private slot = 0;
  private zero = 0;
  /** Slots that look like an overwritten SYNC, checked at the end when the size was not known: (slot, address). */
  private readonly maybe: number[] = [];
  private maybeMore = 0;

  constructor(
    private readonly sink: EntrySink,
    private readonly ringEntries: number | null,
  ) {}

  /** Entries read so far (written or not). */
  get entries(): number {
    return this.slot;
  }

  push(u32: Uint32Array): void {
    const n = u32.length >>> 2;
    const known = this.ringEntries;
    const ringBytes = known !== null && Number.isInteger(Math.log2(known)) ? known * 16 : 0;
    for (let k = 0; k < n; k++, this.slot++) {
      if (isZero(u32, k)) {
        this.zero++;
        continue;
      }
      if (known === null && (u32[k * 4]! | u32[k * 4 + 1]!) === 0) this.remember(u32, k);
      pushSlot(this.sink, u32, k, this.slot, 0, ringBytes);
    }
  }

  private remember(u32: Uint32Array, k: number): void {
    const addr = syncMsiAddr(u32[k * 4 + 2]!, u32[k * 4 + 3]!);
    if (addr === 0) return;
    if (this.maybe.length < 2048) this.maybe.push(this.slot, addr);
    else this.maybeMore++;
  }

  end(): void {
    const n = this.slot;
    if (n === 0) throw new AuditInputError('byte offset 0', 'the dump is empty');
    // Every slot zero: nothing was ever written, so there is nothing to audit (not "0 findings").
    if (this.zero === n)
      throw new AuditInputError(
        'byte offset 0',
        `the dump holds no command (${n === 1 ? 'its one entry is' : `all ${n} entries are`} zero: never written)`,
      );
    if (this.ringEntries === null && Number.isInteger(Math.log2(n))) {
      let seen = 0;
      for (let j = 0; j < this.maybe.length; j += 2) if (this.maybe[j + 1]! % (n * 16) === this.maybe[j]! * 16) seen++;
      if (seen > 0 || this.maybeMore > 0)
        this.sink.note(
          `${seen}${this.maybeMore > 0 ? '+' : ''} entries look like CMD_SYNCs overwritten by their MSI write, but the dump's size was not known before reading it (stdin or gzip): they were read as they are (give the dump as an uncompressed file, or the registers)`,
        );
    }
    if (this.zero > 0) this.sink.note(`${this.zero} never-written (all-zero) slots skipped`);
    this.sink.note(
      'no CMDQ_PROD/CMDQ_CONS given: entries are in ring order, which is queue order only if the ring never wrapped',
    );
  }
}
