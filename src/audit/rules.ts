/**
 * The architecture rules an audited stream is checked against. Each finding names the entry, the command,
 * the rule and the architecture's reason. Rules interpret commands from their words (interpret.ts) with
 * their own coverage arithmetic; the engine is never consulted here.
 *
 * Batches: the commands after one CMD_SYNC up to and including the next. A CMD_SYNC guarantees completion of
 * every earlier command on the queue (Arm IHI 0070 4.7.3); nothing is guaranteed complete before it.
 */
import { Opcode, type CommandIssue } from '../cmdq/index.js';
import { hexAddr } from '../bits.js';
import { Kind, batchEnd, batchStart, type Interpreted } from './interpret.js';
import { CERROR_NAMES } from './ring.js';
import { EntryFlag, type AuditStream } from './stream.js';

export { RULES, RULE_IDS, type Finding, type RuleCategory, type RuleId } from './rules-table.js';
import { RULES, RULE_IDS, type Finding, type RuleId } from './rules-table.js';
import { NestedTracker } from './nested.js';
import { TagCoverIndex, coverCaveat } from './tag-cover.js';
import { checkCorpusRules, type CorpusRuleOptions } from './rules-corpus.js';

export interface RuleOptions extends CorpusRuleOptions {
  /** VMIDs used under nesting; undefined = infer (VMIDs that appear in both stage-2 and NH_* TLBIs). */
  readonly nestedVmids?: readonly number[] | undefined;
  /** Batches longer than this (commands before a CMD_SYNC) are reported; undefined = not checked. */
  readonly maxBatch?: number | undefined;
  /** IPA size in bits (S2_IPA ranges must not pass 2^ipaBits); default 52. */
  readonly ipaBits?: number | undefined;
  /** VA size in bits for TTB0 ranges (a range starting below 2^vaBits must end by it); undefined = 64 only. */
  readonly vaBits?: number | undefined;
  /** DS (IDR5): TTL=1 is meaningful at 16K. */
  readonly ds?: boolean | undefined;
}

const TWO_POW_64 = 2 ** 64;
/** 2^n for n in [0, 63] (a table: `2 ** n` with a variable n is a slow library call). */
const POW2 = new Float64Array(64).map((_, n) => 2 ** n);
const GRANULE_NAME = ['', '4K', '16K', '64K'];

/**
 * Low address bits that must be zero for a range command's base, by TG and TTL (64-bit descriptors;
 * IHI 0070 4.4.1.1): 4K TTL=1 [29:12], TTL=2 [20:12]; 16K TTL=2 [24:12], TTL 0/3 [13:12], with DS TTL=1
 * [35:12] (without DS TTL=1 is treated as 0); 64K TTL=1 [41:12], TTL=2 [28:12], TTL 0/3 [15:12].
 */
export function baseAlignBits(tg: number, ttl: number, ds: boolean): number {
  switch (tg) {
    case 1:
      return ttl === 1 ? 30 : ttl === 2 ? 21 : 12;
    case 2:
      return ttl === 2 ? 25 : ttl === 1 ? (ds ? 36 : 14) : 14;
    case 3:
      return ttl === 1 ? 42 : ttl === 2 ? 29 : 16;
    default:
      return 12;
  }
}

function fmtRange(r: Interpreted, i: number): string {
  const a = r.addr[i]!;
  if (r.tg[i] === 0) return `addr=${hexAddr(a)} (TG=0: one address)`;
  return `[${hexAddr(a)}, +${hexAddr(r.span[i]!)}) = ${r.pages[i]} × ${GRANULE_NAME[r.tg[i]!]} TTL=${r.ttl[i]} Leaf=${r.leaf[i]}`;
}

function tagText(r: Interpreted, i: number): string {
  const parts: string[] = [];
  if (r.asid[i]! >= 0) parts.push(`ASID=${r.asid[i]}`);
  if (r.vmid[i]! >= 0) parts.push(`VMID=${r.vmid[i]}`);
  return parts.join(' ');
}

/** Does range TLBI y cover range TLBI x (same opcode and tags, span and scope at least as wide)? */
function rangeCovers(r: Interpreted, y: number, x: number): boolean {
  const ty = r.tg[y]!;
  const tx = r.tg[x]!;
  if (ty === 0) return tx === 0 && r.addr[x] === r.addr[y] && (r.leaf[y] === 0 || r.leaf[x] === 1);
  if (tx !== ty) return false;
  if (r.ttl[y] !== 0 && r.ttl[y] !== r.ttl[x]) return false;
  if (r.leaf[y] === 1 && r.leaf[x] === 0) return false;
  const sy = r.addr[y]!;
  const sx = r.addr[x]!;
  return sy <= sx && sx + r.span[x]! <= sy + r.span[y]!;
}

const PAIRWISE_LIMIT = 256;

export class RuleChecker {
  private readonly findings: Finding[] = [];
  private readonly nested: Set<number>;
  readonly nestedInferred: boolean;

  constructor(
    private readonly s: AuditStream,
    private readonly r: Interpreted,
    private readonly o: RuleOptions,
    /** Global index of entry 0 (a window of a streamed audit): findings name entries by their global index. */
    private readonly offset = 0,
  ) {
    if (o.nestedVmids) {
      this.nested = new Set(o.nestedVmids);
      this.nestedInferred = false;
    } else {
      this.nested = new Set([...r.s2Vmids].filter((v) => r.nhVmids.has(v)));
      this.nestedInferred = true;
    }
  }

  get nestedVmids(): number[] {
    return [...this.nested].sort((a, b) => a - b);
  }

  private add(rule: RuleId, index: number, related: readonly number[], message: string, reason: string): void {
    const off = this.offset;
    this.findings.push({
      rule,
      category: RULES[rule].category,
      index: index + off,
      command: this.r.name(index),
      related: off === 0 ? related : related.map((x) => x + off),
      message,
      reason,
    });
  }

  /**
   * Every rule (by default), or — for one window of a streamed audit — without the nesting rule (the caller keeps
   * its state across windows) and without the final-SYNC rule unless this window ends the stream.
   */
  run(o: { nested?: boolean; finalSync?: boolean } = {}): Finding[] {
    this.illegal();
    this.smmuErrors();
    this.perEntry();
    this.batches();
    checkCorpusRules(this.s, this.r, this.o, this.nested, (...a) => this.add(...a), this.offset);
    if (o.nested !== false) this.nestedRule();
    if (o.finalSync !== false) this.finalSync();
    this.findings.sort((a, b) => a.index - b.index || RULE_IDS.indexOf(a.rule) - RULE_IDS.indexOf(b.rule));
    return this.findings;
  }

  private illegal(): void {
    const { r, s } = this;
    for (const [i, e] of r.errors) {
      if (s.flags[i]! & EntryFlag.UnknownOpcode) {
        this.add(
          'illegal',
          i,
          [],
          'QEMU named the opcode UNKNOWN/INVALID (its value is not in the trace)',
          'the opcode is reserved: an SMMU raises CERROR_ILL for it (IHI 0070 4.1.3)',
        );
        continue;
      }
      this.add('illegal', i, [], `${e.field}=${e.value}: ${e.reason}`, illegalReason(e));
    }
    for (const [i, ws] of r.warnings)
      for (const w of ws)
        this.add(
          'res0-set',
          i,
          [],
          `${w.field}=${w.value}: ${w.reason}`,
          'an implementation may treat a non-zero RES0 field as malformed (CERROR_ILL) or ignore it (IHI 0070 4.1.5)',
        );
  }

  private smmuErrors(): void {
    const { r, s } = this;
    for (const { index, code } of s.cerrors) {
      const name = CERROR_NAMES[code] ?? `ERR=${code}`;
      const codecIllegal = r.errors.has(index);
      let why: string;
      if (code === 1)
        why = codecIllegal
          ? 'the SMMU raised CERROR_ILL on this entry; the codec agrees it is illegal (see the illegal finding)'
          : 'the SMMU raised CERROR_ILL on this entry but the codec finds it legal with the assumed features: the SMMU implements less than assumed (give --idr0/--idr3/--idr5 or --features) or rejects RES0 bits';
      else if (code === 2)
        why = 'CERROR_ABT: the SMMU could not read this entry from memory (an abort on the queue read)';
      else if (code === 3) why = 'CERROR_ATC_INV_SYNC: an ATC_INV completed by this CMD_SYNC timed out in the endpoint';
      else why = 'an error code the architecture does not define';
      const related: number[] = [];
      if (code === 3) {
        const b = r.batch[index]!;
        for (let k = batchStart(r, b); k < index; k++) if (r.kind[k] === Kind.Atc) related.push(k);
      }
      this.add(
        'smmu-error',
        index,
        related,
        `${name}: ${why}`,
        'the SMMU stops consuming at the first error, with CONS pointing at the faulty command and CONS.ERR giving the cause (IHI 0070 4.1.3)',
      );
    }
  }

  private perEntry(): void {
    const { r, o } = this;
    const ds = o.ds ?? false;
    const ipaTop = 2 ** (o.ipaBits ?? 52);
    const vaTop = o.vaBits !== undefined ? 2 ** o.vaBits : TWO_POW_64;
    for (let i = 0; i < r.n; i++) {
      if (r.kind[i] !== Kind.RangeTlbi) continue;
      const tg = r.tg[i]!;
      if (tg === 0) continue;
      const a = r.addr[i]!;
      const bits = baseAlignBits(tg, r.ttl[i]!, ds);
      const unit = POW2[bits]!;
      if (Math.floor(a / unit) * unit !== a)
        this.add(
          'misaligned-range',
          i,
          [],
          `${fmtRange(r, i)}: base ${hexAddr(a)} is not aligned to 2^${bits} (address bits [${bits - 1}:12] must be 0 for TG=${GRANULE_NAME[tg]} TTL=${r.ttl[i]})`,
          'a range invalidation whose base address is misaligned for the hinted TTL level invalidates an UNPREDICTABLE range (IHI 0070 4.4.1.1; with 128-bit descriptors it need not invalidate anything)',
        );
      const span = r.span[i]!;
      if (r.op[i] === Opcode.TLBI_S2_IPA) {
        if (span > ipaTop - a)
          this.add(
            'range-past-top',
            i,
            [],
            `${fmtRange(r, i)} ends at ${hexAddr(a + span)}, past the top of the ${Math.log2(ipaTop)}-bit IPA space`,
            'a range invalidation does not wrap and addresses above the IPA size do not exist: what such a command invalidates beyond the top is UNPREDICTABLE (IHI 0070 4.4.1.1)',
          );
      } else if (span > TWO_POW_64 - a) {
        this.add(
          'range-past-top',
          i,
          [],
          `${fmtRange(r, i)} runs past 2^64`,
          'a range invalidation that runs past the top of the VA space does not wrap (IHI 0070 4.4.1.1): the part beyond 2^64 invalidates nothing, and software relying on a wrap is wrong',
        );
      } else if (a < vaTop && span > vaTop - a) {
        this.add(
          'range-past-top',
          i,
          [],
          `${fmtRange(r, i)} starts below 2^${o.vaBits} and ends at ${hexAddr(a + span)}, past the top of the ${o.vaBits}-bit TTB0 VA space`,
          'addresses above the VA size are not translated by TTB0, and a range that starts in TTB0 and spills into TTB1 need not invalidate anything in TTB1 (IHI 0070 4.4.1.1)',
        );
      }
    }
  }

  private batches(): void {
    const { r, o } = this;
    for (let b = 0; b < r.batchCount; b++) {
      const start = batchStart(r, b);
      const end = batchEnd(r, b);
      const sync = r.batchSync[b]!;
      const cmdEnd = sync >= 0 ? sync : end;
      let firstTlbi = -1;
      let tlbis = 0;
      for (let i = start; i < cmdEnd; i++) {
        const k = r.kind[i]!;
        if (k === Kind.RangeTlbi || k === Kind.TagTlbi) tlbis++;
      }
      // With at most one TLBI and no ATC_INV or batch limit to check, nothing in this batch can be wasted or misordered.
      if (tlbis < 2 && o.maxBatch === undefined && !this.hasAtc(start, cmdEnd)) continue;
      const tagCmds: number[] = [];
      const groups = new Map<number, number[]>();
      const tagSeen = new Map<number, number>();
      for (let i = start; i < cmdEnd; i++) {
        const k = r.kind[i]!;
        if (o.maxBatch !== undefined && i - start === o.maxBatch)
          this.add(
            'long-batch',
            i,
            sync >= 0 ? [sync] : [],
            `${cmdEnd - start} commands between CMD_SYNCs (limit ${o.maxBatch}); this is command ${o.maxBatch + 1} of the batch`,
            'MMU-700 erratum 2812531: long runs of commands without a CMD_SYNC can fail, so affected SMMUs need a CMD_SYNC at least every 64 commands (Linux: ARM_SMMU_OPT_CMDQ_FORCE_SYNC)',
          );
        if (k === Kind.Atc) {
          if (firstTlbi >= 0)
            this.add(
              'atc-before-sync',
              i,
              [firstTlbi],
              `ATC_INV SID=${r.sid[i]} is in the same batch as ${r.name(firstTlbi)} #${firstTlbi + this.offset} (${tagText(r, firstTlbi)}), before the CMD_SYNC that completes it`,
              'the ATC may only be invalidated after the SMMU TLB invalidation has completed (TLBI → CMD_SYNC → ATC_INV → CMD_SYNC); otherwise the device can refill its ATC from a stale TLB entry (IHI 0070 4.5.1)',
            );
          continue;
        }
        if (k === Kind.TagTlbi) {
          if (firstTlbi < 0) firstTlbi = i;
          tagCmds.push(i);
          const key = r.op[i]! * 2 ** 32 + (r.asid[i]! + 1) * 2 ** 17 + (r.vmid[i]! + 1);
          const prev = tagSeen.get(key);
          if (prev !== undefined)
            this.add(
              'duplicate-span',
              i,
              [prev],
              `${r.name(i)} ${tagText(r, i)} repeats #${prev + this.offset} in the same batch`,
              'both complete only at the same CMD_SYNC, so the second removes nothing the first did not (IHI 0070 4.7.3): one is wasted',
            );
          else tagSeen.set(key, i);
        } else if (k === Kind.RangeTlbi) {
          if (firstTlbi < 0) firstTlbi = i;
          const key = r.op[i]! * 2 ** 32 + (r.asid[i]! + 1) * 2 ** 17 + (r.vmid[i]! + 1);
          let g = groups.get(key);
          if (!g) groups.set(key, (g = []));
          g.push(i);
        }
      }
      // Waste: duplicates among the range TLBIs of one target.
      for (const g of groups.values()) this.duplicates(g);
      // Waste: anything covered by a whole-tag command of the same batch.
      if (tagCmds.length > 0) {
        const covers = new TagCoverIndex(r, tagCmds);
        for (let i = start; i < cmdEnd; i++) {
          const k = r.kind[i]!;
          if (k !== Kind.RangeTlbi && k !== Kind.TagTlbi) continue;
          const y = covers.coverOf(i);
          if (y >= 0) {
            const caveat = coverCaveat(r, y);
            this.add(
              'covered-by-whole-tag',
              i,
              [y],
              `${r.name(i)} ${tagText(r, i)}${k === Kind.RangeTlbi ? ' ' + fmtRange(r, i) : ''} is covered by ${r.name(y)} #${y + this.offset} ${tagText(r, y)} in the same batch${caveat}`,
              'commands of one batch all complete at its CMD_SYNC, and the whole-tag command removes every entry this one must remove (IHI 0070 4.4, 4.7.3): this one is wasted',
            );
          }
        }
      }
    }
  }

  private hasAtc(start: number, end: number): boolean {
    for (let i = start; i < end; i++) if (this.r.kind[i] === Kind.Atc) return true;
    return false;
  }

  private duplicates(g: number[]): void {
    const { r } = this;
    if (g.length < 2) return;
    if (g.length > PAIRWISE_LIMIT) {
      // Large groups: exact repeats only.
      const seen = new Map<string, number>();
      for (const x of g) {
        const key = `${r.addr[x]}:${r.span[x]}:${r.tg[x]}:${r.ttl[x]}:${r.leaf[x]}`;
        const prev = seen.get(key);
        if (prev !== undefined) this.dup(x, prev);
        else seen.set(key, x);
      }
      return;
    }
    for (let a = 0; a < g.length; a++) {
      const x = g[a]!;
      for (let b = 0; b < g.length; b++) {
        if (a === b) continue;
        const y = g[b]!;
        if (!rangeCovers(r, y, x)) continue;
        // Identical commands cover each other: report only the later one.
        if (rangeCovers(r, x, y) && b > a) continue;
        this.dup(x, y);
        break;
      }
    }
  }

  private dup(x: number, y: number): void {
    const { r } = this;
    this.add(
      'duplicate-span',
      x,
      [y],
      `${r.name(x)} ${tagText(r, x)} ${fmtRange(r, x)} is within #${y + this.offset} ${fmtRange(r, y)} in the same batch`,
      'both complete only at the same CMD_SYNC and the other command must remove every entry this one must (IHI 0070 4.4.1.1, 4.7.3): this one is wasted',
    );
  }

  private nestedRule(): void {
    const t = new NestedTracker(this.nested);
    const emit = (f: Finding): void => void this.findings.push(f);
    t.scan(this.s, this.r, this.offset, 0, emit);
    t.finish(emit);
  }

  private finalSync(): void {
    const { r } = this;
    if (r.batchCount === 0 || r.batchSync[r.batchCount - 1]! >= 0) return;
    const start = batchStart(r, r.batchCount - 1);
    const n = r.n - start;
    this.add(
      'missing-final-sync',
      start,
      [],
      `${n === 1 ? `the last entry (#${start + this.offset}) has` : `${n} entries from #${start + this.offset} to the end have`} no CMD_SYNC after them`,
      'invalidations are only guaranteed complete at a later CMD_SYNC on the same queue (IHI 0070 4.1.4, 4.7.3): without one, software cannot know the stale entries are gone',
    );
  }
}

function illegalReason(e: CommandIssue): string {
  switch (e.rule) {
    case 'reserved-opcode':
      return 'a reserved opcode makes the SMMU raise CERROR_ILL and stop the queue (IHI 0070 4.1.3)';
    case 'unsupported':
      return 'a command the SMMU does not implement is CERROR_ILL (IHI 0070 4.1.3, and the command’s section)';
    case 'ssec':
      return 'SSec must be 0 on the Non-secure command queue, otherwise CERROR_ILL (IHI 0070 4.1.6)';
    case 'reserved-value':
      return 'a reserved field value makes the command CERROR_ILL (IHI 0070 4.4.1.1, 4.7.3, 4.5)';
    case 'res0':
      return 'a non-zero RES0 field may be treated as malformed (CERROR_ILL) — strict mode reports it as illegal (IHI 0070 4.1.5)';
    default:
      return 'CERROR_ILL (IHI 0070 4.1.3)';
  }
}

/** Run every rule. */
export function checkRules(
  s: AuditStream,
  r: Interpreted,
  o: RuleOptions,
): { findings: Finding[]; nestedVmids: number[]; nestedInferred: boolean } {
  const c = new RuleChecker(s, r, o);
  return { findings: c.run(), nestedVmids: c.nestedVmids, nestedInferred: c.nestedInferred };
}
