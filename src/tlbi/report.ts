/**
 * Plans for people and pages: decoded JSON entries (`{smmu, batch, name, fields, words}`, fields named as in
 * `decode --json`) and statistics (commands by kind, CMD_SYNCs, batches, pages invalidated and
 * over-invalidated). Decoding goes through the codec; nothing here is on the hot path.
 */
import { CommandChecker } from '../cmdq/check.js';
import { decodeSlot } from '../cmdq/codec.js';
import { withFeatures } from '../cmdq/features.js';
import { fieldsToJson, wordsToJson, type JsonFields } from '../cmdq/json.js';
import { isTlbType, type Invs } from './invs.js';
import { PlanOutput } from './output.js';
import { levelMask, type TlbiDescription } from '../tlbi-description.js';
import { invalidateRange, tlbiInv, type RangeRequest, type SmmuTable } from './plan.js';
import { tlbiRangeBytes, tlbiShape } from './range.js';
import { log2Of } from '../units.js';

/** One planned entry, decoded. */
export interface PlannedEntryJson {
  smmu: number;
  /** Index of the batch (commands up to and including a CMD_SYNC) this entry belongs to. */
  batch: number;
  name: string;
  fields: JsonFields;
  words: [string, string];
}

/**
 * Decode entry k with the codec's default features, plus DS when entry k's SMMU has it in `smmus` (SCALE
 * above 31 is legal only there).
 */
function decodeEntry(out: PlanOutput, k: number, smmus: SmmuTable | undefined): ReturnType<typeof decodeSlot> {
  return smmus?.[out.smmuOf[k]!]?.ds === true ? decodeSlot(out.buf.u32, k, DS_CHECKER) : decodeSlot(out.buf.u32, k);
}

const DS_CHECKER = new CommandChecker({ features: withFeatures({ ds: true }) });

/** Decode every entry of a plan (`smmus`: the table it was planned with, for the SMMUs' DS). */
export function planEntriesToJson(out: PlanOutput, smmus?: SmmuTable): PlannedEntryJson[] {
  const res: PlannedEntryJson[] = [];
  const u32 = out.buf.u32;
  let batch = 0;
  for (let s = 0; s < out.count; s++) {
    while (batch < out.batchCount && s >= out.batchEnd[batch]!) batch++;
    const r = decodeEntry(out, s, smmus);
    const words = wordsToJson(u32[s * 4]!, u32[s * 4 + 1]!, u32[s * 4 + 2]!, u32[s * 4 + 3]!);
    if (!r.ok) throw new Error(`planner emitted an illegal entry at ${s}: ${r.error.field}: ${r.error.reason}`);
    res.push({ smmu: out.smmuOf[s]!, batch, name: r.command.name, fields: fieldsToJson(r.command), words });
  }
  return res;
}

export interface PlanStats {
  entries: number;
  /** Entries other than CMD_SYNC. */
  commands: number;
  syncs: number;
  batches: number;
  /** Entries by command name (CMD_SYNC included). */
  byKind: Record<string, number>;
  /** Entries per SMMU id. */
  bySmmu: Record<string, number>;
  /** Whole-tag TLBIs (NH_ASID, EL2_ASID, S12_VMALL): targets that took the whole-tag path. */
  wholeTag: number;
  /** TLB targets that took a ranged path. */
  rangedTargets: number;
  /** 4 KiB pages asked for, summed over the ranged TLB targets. */
  pagesRequested: number;
  /** 4 KiB pages the ranged TLBIs cover (a non-range command counts one stride). */
  pagesInvalidated: number;
  /** pagesInvalidated − pagesRequested. */
  pagesOverInvalidated: number;
  /** ATC_INV commands, and the 4 KiB pages the ranged ones cover (Size 52 counted in atcWhole). */
  atcCommands: number;
  atcPages: number;
  atcWhole: number;
}

const RANGED = new Set(['TLBI_NH_VA', 'TLBI_EL2_VA', 'TLBI_S2_IPA']);
const WHOLE = new Set(['TLBI_NH_ASID', 'TLBI_EL2_ASID', 'TLBI_S12_VMALL']);

/**
 * Statistics of a plan. `size` is the requested byte count, `strideBytes` what one non-range (TG=0)
 * command counts for (linux: the granule; tlbi: the stride).
 */
export function planStats(
  out: PlanOutput,
  size: number,
  strideBytes: number,
  invs: Invs,
  smmus?: SmmuTable,
): PlanStats {
  const s: PlanStats = {
    entries: out.count,
    commands: 0,
    syncs: 0,
    batches: out.batchCount,
    byKind: {},
    bySmmu: {},
    wholeTag: 0,
    rangedTargets: 0,
    pagesRequested: 0,
    pagesInvalidated: 0,
    pagesOverInvalidated: 0,
    atcCommands: 0,
    atcPages: 0,
    atcWhole: 0,
  };
  let bytes = 0;
  for (let k = 0; k < out.count; k++) {
    const r = decodeEntry(out, k, smmus);
    if (!r.ok) continue;
    const c = r.command;
    s.byKind[c.name] = (s.byKind[c.name] ?? 0) + 1;
    const sm = String(out.smmuOf[k]);
    s.bySmmu[sm] = (s.bySmmu[sm] ?? 0) + 1;
    if (c.name === 'CMD_SYNC') s.syncs++;
    else s.commands++;
    if (WHOLE.has(c.name)) s.wholeTag++;
    if (RANGED.has(c.name) && 'tg' in c) {
      bytes += c.tg === 0 ? strideBytes : tlbiRangeBytes(c.num, c.scale, c.tg);
    }
    if (c.name === 'ATC_INV') {
      s.atcCommands++;
      if (c.size >= 52) s.atcWhole++;
      else s.atcPages += 2 ** c.size;
    }
  }
  let tlbTargets = 0;
  for (const e of invs.live()) if (isTlbType(e.type)) tlbTargets++;
  s.rangedTargets = tlbTargets - s.wholeTag;
  s.pagesRequested = size === 0 ? 0 : (s.rangedTargets * size) / 4096;
  s.pagesInvalidated = bytes / 4096;
  s.pagesOverInvalidated = s.pagesInvalidated - s.pagesRequested;
  return s;
}

/** Plan a linux-policy request into a fresh output and return it with decoded entries and stats. */
export function planLinuxReport(
  invs: Invs,
  req: RangeRequest,
  smmus: SmmuTable,
): { out: PlanOutput; commands: PlannedEntryJson[]; stats: PlanStats } {
  const out = new PlanOutput();
  invalidateRange(invs, req, smmus, out);
  return {
    out,
    commands: planEntriesToJson(out, smmus),
    stats: planStats(out, req.size, req.granule, invs, smmus),
  };
}

/** Plan a tlbi-policy request into a fresh output and return it with decoded entries and stats. */
export function planTlbiReport(
  invs: Invs,
  tlbi: TlbiDescription,
  smmus: SmmuTable,
): { out: PlanOutput; commands: PlannedEntryJson[]; stats: PlanStats } {
  const out = new PlanOutput();
  tlbiInv(tlbi, invs, smmus, out);
  const size = tlbi.last - tlbi.start + 1;
  const shape = tlbiShape(
    levelMask(tlbi.leafLevels),
    levelMask(tlbi.tableLevels),
    tlbi.start,
    size,
    log2Of(tlbi.granule),
  );
  return {
    out,
    commands: planEntriesToJson(out, smmus),
    stats: planStats(out, size, 2 ** shape.strideShift, invs, smmus),
  };
}
