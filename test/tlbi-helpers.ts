/**
 * Test helpers for the engine: decode a PlanOutput through the codec (not through range.ts), and a slow
 * BigInt reference of what each decoded command must invalidate (the architecture's "must kill" rules).
 */
import { CommandChecker, decodeSlot, withFeatures, type Command } from '../src/cmdq/index.js';
import type { PlanOutput, SmmuOptions } from '../src/tlbi/index.js';

export interface Decoded {
  smmu: number;
  index: number;
  cmd: Command;
}

/** Decode every entry through the codec; throws on an entry the SMMU (with its RIL feature) would reject. */
export function decodeAll(out: PlanOutput, smmus?: ReadonlyArray<SmmuOptions | undefined>): Decoded[] {
  const res: Decoded[] = [];
  const checkers = new Map<number, CommandChecker>();
  for (let k = 0; k < out.count; k++) {
    const smmu = out.smmuOf[k]!;
    let checker = checkers.get(smmu);
    if (checker === undefined) {
      const ril = smmus?.[smmu]?.ril ?? true;
      const ds = smmus?.[smmu]?.ds ?? false;
      checker = new CommandChecker({ features: withFeatures({ ril, ds }) });
      checkers.set(smmu, checker);
    }
    const r = decodeSlot(out.buf.u32, k, checker);
    if (!r.ok) throw new Error(`entry ${k} (smmu ${smmu}) is illegal: ${r.error.field}: ${r.error.reason}`);
    res.push({ smmu, index: k, cmd: r.command });
  }
  return res;
}

/** Short text per entry, for readable expectations. */
export function brief(d: Decoded[]): string[] {
  return d.map(({ cmd }) => {
    const c = cmd as unknown as Record<string, number | string>;
    switch (cmd.name) {
      case 'TLBI_NH_VA':
      case 'TLBI_EL2_VA':
      case 'TLBI_S2_IPA':
        return `${cmd.name} ${'asid' in cmd ? `asid=${c.asid} ` : ''}${'vmid' in cmd ? `vmid=${c.vmid} ` : ''}num=${c.num} scale=${c.scale} leaf=${c.leaf} ttl=${c.ttl} tg=${c.tg} addr=0x${(c.addr as number).toString(16)}`;
      case 'TLBI_NH_ASID':
        return `${cmd.name} asid=${c.asid} vmid=${c.vmid}`;
      case 'TLBI_EL2_ASID':
        return `${cmd.name} asid=${c.asid}`;
      case 'TLBI_S12_VMALL':
      case 'TLBI_NH_ALL':
        return `${cmd.name} vmid=${c.vmid}`;
      case 'ATC_INV':
        return `ATC_INV sid=${c.sid} ssv=${c.ssv} ssid=${c.ssid} size=${c.size} addr=0x${(c.addr as number).toString(16)}`;
      case 'CMD_SYNC':
        return `SYNC cs=${c.cs} msh=${c.msh} attr=${c.msiattr}`;
      default:
        return cmd.name;
    }
  });
}

/** A cached translation-table entry the reference model may hold. */
export interface CachedEntry {
  /** Tag: stage-1 (asid, vmid) or stage-2 (vmid). */
  stage: 1 | 2;
  asid: number;
  vmid: number;
  /**
   * A stage-1 entry of the EL2-E2H regime (a plain stage-1 stream on an SMMU with E2H). When absent, the
   * `e2h` argument of mustKill decides for every stage-1 entry.
   */
  el2?: boolean;
  /** Inserted with this translation granule (bytes). */
  granule: bigint;
  level: number;
  leaf: boolean;
  /** [base, base + span). */
  base: bigint;
  span: bigint;
}

/** log2 of an entry size at a level: g + (3 - level) * (g - 3). */
export function levelBytes(granule: bigint, level: number): bigint {
  const g = BigInt(granule.toString(2).length - 1);
  return 1n << (g + BigInt(3 - level) * (g - 3n));
}

/**
 * Does `cmd` (an entry issued on an SMMU with or without E2H) have to remove `e`? The architecture's rules
 * (IHI 0070 4.4), written independently of the engine, with BigInt arithmetic.
 */
export function mustKill(cmd: Command, e: CachedEntry, smmuE2h: boolean): boolean {
  const c = cmd as unknown as Record<string, number>;
  // From here on, `e2h` reads: the entry is a stage-1 entry of the EL2-E2H regime (or a stage-2 entry on an
  // E2H SMMU, where it changes nothing).
  const e2h = e.el2 ?? smmuE2h;
  switch (cmd.name) {
    case 'TLBI_NH_ASID':
      return !e2h && e.stage === 1 && e.asid === c.asid && e.vmid === c.vmid;
    case 'TLBI_EL2_ASID':
      return e2h && e.stage === 1 && e.asid === c.asid;
    case 'TLBI_S12_VMALL':
      return e.vmid === c.vmid && !(e2h && e.stage === 1);
    case 'TLBI_NH_VA':
    case 'TLBI_EL2_VA':
    case 'TLBI_S2_IPA': {
      if (cmd.name === 'TLBI_S2_IPA') {
        if (e.stage !== 2 || e.vmid !== c.vmid) return false;
      } else if (cmd.name === 'TLBI_EL2_VA') {
        if (!e2h || e.stage !== 1 || e.asid !== c.asid) return false;
      } else if (e2h || e.stage !== 1 || e.asid !== c.asid || e.vmid !== c.vmid) return false;
      const addr = BigInt(c.addr!);
      const leafOnly = c.leaf === 1;
      if (!e.leaf && leafOnly) return false;
      if (c.tg === 0) {
        // Not a range: every entry containing addr, any granule and level.
        return e.base <= addr && addr < e.base + e.span;
      }
      const pg = 1n << BigInt(10 + 2 * c.tg!);
      if (pg !== e.granule) return false;
      let ttl = c.ttl!;
      if (c.tg === 2 && ttl === 1) ttl = 0; // 16K, TTL=1 without DS reads as 0
      // A misaligned base for the hinted level is UNPREDICTABLE: the adversary removes nothing.
      const align = ttl === 0 ? pg : levelBytes(pg, ttl);
      if (addr % align !== 0n) return false;
      const range = BigInt(c.num! + 1) * (1n << BigInt(c.scale!)) * pg;
      const overlaps = e.base < addr + range && addr < e.base + e.span;
      if (!overlaps) return false;
      if (e.leaf) return ttl === 0 || e.level === ttl;
      return ttl === 0 || e.level < ttl;
    }
    default:
      return false;
  }
}

/** Entries of `cache` that no command in `cmds` removes. */
export function survivors(cmds: Decoded[], cache: CachedEntry[], e2h: boolean): CachedEntry[] {
  return cache.filter((e) => !cmds.some((d) => mustKill(d.cmd, e, e2h)));
}

/** Deterministic xorshift64 (BigInt) for the tests' own random choices. */
export function xorshift(seed: bigint): () => bigint {
  let s = seed & 0xffffffffffffffffn;
  return () => {
    s ^= (s << 13n) & 0xffffffffffffffffn;
    s ^= s >> 7n;
    s ^= (s << 17n) & 0xffffffffffffffffn;
    return s;
  };
}
