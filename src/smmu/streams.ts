/**
 * The stream table of the SMMU model, as typed configurations (the model does not decode STE/CD bytes):
 * per StreamID a translation mode, its tables, its VMID, whether the endpoint has an ATC, and for stage 1
 * the context descriptors by SubstreamID (ASID and table).
 */
import type { TableConfig } from './walker.js';

export type StreamMode = 'bypass' | 'stage1' | 'stage2' | 'nested';

/** Stage-1 translation regime of a stream: NS-EL1 (VMID + ASID), EL2 (no ASID), EL2 with E2H (ASID). */
export type S1Regime = 'nh' | 'el2' | 'el2-e2h';

export interface ContextDescriptor {
  readonly asid: number;
  /** The stage-1 table (its root is an IPA for a nested stream). */
  readonly table: TableConfig;
}

export interface StreamConfig {
  readonly sid: number;
  readonly mode: StreamMode;
  /** The endpoint has an ATC (ATS enabled in the STE). */
  readonly ats: boolean;
  /** VMID: of the stage-2 table, and the tag of stage-1-only entries (0 when the SMMU has no stage 2). */
  readonly vmid: number;
  /** Stage-1 regime (stage1 and nested streams); default NS-EL1. */
  readonly regime?: S1Regime;
  /** Context descriptors by SubstreamID (stage1 and nested). SSID 0 is used for traffic without a PASID. */
  readonly cds?: ReadonlyMap<number, ContextDescriptor>;
  /** The stage-2 table (stage2 and nested). */
  readonly s2?: TableConfig;
}
