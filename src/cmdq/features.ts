/**
 * What an SMMU implements, as far as command legality depends on it (SMMU_IDR0/IDR1/IDR3/IDR5), and which
 * command queue an entry was read from.
 */

export interface SmmuFeatures {
  /** IDR0.S1P: stage 1 translation (NH_*, CFGI_CD*). */
  readonly stage1: boolean;
  /** IDR0.S2P: stage 2 translation (S2_IPA, S12_VMALL; VMID in NH_*). */
  readonly stage2: boolean;
  /** IDR0.ATS: ATC_INV. */
  readonly ats: boolean;
  /** IDR0.PRI: PRI_RESP. */
  readonly pri: boolean;
  /** IDR0.Hyp: TLBI_EL2_*. */
  readonly hyp: boolean;
  /** IDR3.RIL: range invalidation. Not a legality condition for decoding; used by planners. */
  readonly ril: boolean;
  /** IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only (RESUME / STALL_TERM illegal), 2 stall forced. */
  readonly stallModel: 0 | 1 | 2;
  /** IDR3.MPAM: CFGI_VMS_PIDM. */
  readonly mpam: boolean;
  /** IDR5.DS / 52-bit VA with 16K/64K: SCALE is 6 bits (w0[25:20]); TTL=1 at 16K is meaningful. */
  readonly ds: boolean;
  /** IDR0.ASID16: 16-bit ASIDs (else ASID[15:8] is RES0). */
  readonly asid16: boolean;
  /** IDR0.VMID16: 16-bit VMIDs (else VMID[15:8] is RES0). */
  readonly vmid16: boolean;
  /**
   * What this SMMU does with an ATC_INV whose Size is above 52. IHI 0070 4.5.1 lets an implementation either
   * raise CERROR_ILL or use an UNKNOWN span (CONSTRAINED UNPREDICTABLE); no ID register tells which.
   * `illegal` (the default): the codec reports CERROR_ILL. `unknown`: the command is legal, and the adversarial
   * model takes the span to be nothing at all (the generous model: everything).
   */
  readonly atcSizeAbove52: 'illegal' | 'unknown';
}

export type QueueKind = 'non-secure' | 'secure';

/** The default: the Non-secure queue of an SMMUv3.2 with both stages, 16-bit tags, ATS, PRI, Hyp, RIL,
 * stalls supported, no MPAM, no DS, CERROR_ILL for an ATC_INV Size above 52. */
export const DEFAULT_FEATURES: SmmuFeatures = Object.freeze({
  stage1: true,
  stage2: true,
  ats: true,
  pri: true,
  hyp: true,
  ril: true,
  stallModel: 0,
  mpam: false,
  ds: false,
  asid16: true,
  vmid16: true,
  atcSizeAbove52: 'illegal',
});

export function withFeatures(over: Partial<SmmuFeatures> | undefined): SmmuFeatures {
  return over ? { ...DEFAULT_FEATURES, ...over } : DEFAULT_FEATURES;
}

/** Bit positions of the ID register fields used above (Arm IHI 0070, 6.3.1 / 6.3.2 / 6.3.4 / 6.3.6). */
const IDR0_S2P = 0;
const IDR0_S1P = 1;
const IDR0_ASID16 = 12;
const IDR0_PRI = 16;
const IDR0_VMID16 = 18;
const IDR0_ATS = 10;
const IDR0_HYP = 9;
const IDR0_STALL_MODEL = 24;
const IDR3_RIL = 10;
const IDR3_MPAM = 7;
const IDR5_DS = 7; // IDR5.DS: 52-bit addresses with 4K/16K granules (FEAT_LPA2); bit 3 is RES0

const bit = (v: number, n: number): boolean => ((v >>> n) & 1) === 1;

/** Features read from ID register values (any may be omitted; omitted registers keep the defaults). */
export function featuresFromIdRegs(regs: { idr0?: number; idr3?: number; idr5?: number }): SmmuFeatures {
  const out: { -readonly [K in keyof SmmuFeatures]: SmmuFeatures[K] } = { ...DEFAULT_FEATURES };
  if (regs.idr0 !== undefined) {
    const r = regs.idr0 >>> 0;
    out.stage2 = bit(r, IDR0_S2P);
    out.stage1 = bit(r, IDR0_S1P);
    out.asid16 = bit(r, IDR0_ASID16);
    out.pri = bit(r, IDR0_PRI);
    out.vmid16 = bit(r, IDR0_VMID16);
    out.ats = bit(r, IDR0_ATS);
    out.hyp = bit(r, IDR0_HYP);
    const sm = (r >>> IDR0_STALL_MODEL) & 3;
    out.stallModel = sm === 3 ? 1 : (sm as 0 | 1 | 2);
  }
  if (regs.idr3 !== undefined) {
    out.ril = bit(regs.idr3 >>> 0, IDR3_RIL);
    out.mpam = bit(regs.idr3 >>> 0, IDR3_MPAM);
  }
  if (regs.idr5 !== undefined) {
    out.ds = bit(regs.idr5 >>> 0, IDR5_DS);
  }
  return out;
}
