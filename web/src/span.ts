/**
 * What each drawn command covers, read back from its decoded fields (the page draws the words the engine
 * wrote, not the engine's intentions): a range TLBI covers (NUM+1) × 2^SCALE pages of its TG; a TLBI
 * without TG covers the entry at its address, drawn as one stride of the request; ATC_INV covers 2^Size
 * 4 KiB pages; whole-tag commands (and ATC_INV Size 52) cover everything under their tag.
 */
import type { Command } from '../../src/cmdq/index.js';
import { tlbiRangeBytes } from '../../src/tlbi/range.js';

export type Span =
  | { readonly kind: 'range'; readonly start: number; readonly end: number }
  | { readonly kind: 'whole' }
  | { readonly kind: 'none' };

/** log2 of the ATC's unit (4 KiB) and the Size that means everything. */
const AtcPageShift = 12;
const AtcSizeAll = 52;

export type CommandClass = 'tlbi-range' | 'tlbi-whole' | 'atc' | 'sync' | 'other';

export function commandClass(cmd: Command): CommandClass {
  switch (cmd.name) {
    case 'TLBI_NH_VA':
    case 'TLBI_NH_VAA':
    case 'TLBI_EL2_VA':
    case 'TLBI_EL2_VAA':
    case 'TLBI_EL3_VA':
    case 'TLBI_S2_IPA':
      return 'tlbi-range';
    case 'TLBI_NH_ALL':
    case 'TLBI_NH_ASID':
    case 'TLBI_EL2_ALL':
    case 'TLBI_EL2_ASID':
    case 'TLBI_EL3_ALL':
    case 'TLBI_S12_VMALL':
    case 'TLBI_NSNH_ALL':
      return 'tlbi-whole';
    case 'ATC_INV':
      return 'atc';
    case 'CMD_SYNC':
      return 'sync';
    default:
      return 'other';
  }
}

/** The span of `cmd`; `stride` is the bytes one TLBI without TG stands for (the request's step). */
export function commandSpan(cmd: Command, stride: number): Span {
  switch (cmd.name) {
    case 'TLBI_NH_VA':
    case 'TLBI_NH_VAA':
    case 'TLBI_EL2_VA':
    case 'TLBI_EL2_VAA':
    case 'TLBI_EL3_VA':
    case 'TLBI_S2_IPA': {
      const len = cmd.tg === 0 ? stride : tlbiRangeBytes(cmd.num, cmd.scale, cmd.tg);
      return { kind: 'range', start: cmd.addr, end: cmd.addr + len };
    }
    case 'ATC_INV':
      if (cmd.size >= AtcSizeAll) return { kind: 'whole' };
      return { kind: 'range', start: cmd.addr, end: cmd.addr + 2 ** (cmd.size + AtcPageShift) };
    default:
      return commandClass(cmd) === 'tlbi-whole' ? { kind: 'whole' } : { kind: 'none' };
  }
}

/** The tag a command is issued under, for grouping bars into lanes: "asid 5", "vmid 3", "sid 0x10 ssid 1". */
export function commandTag(cmd: Command): string {
  const parts: string[] = [];
  const rec = cmd as unknown as Record<string, number | undefined>;
  if (rec.vmid !== undefined && (rec.vmid !== 0 || rec.asid === undefined)) parts.push(`vmid ${rec.vmid}`);
  if (rec.asid !== undefined) parts.push(`asid ${rec.asid}`);
  if (rec.sid !== undefined) parts.push(`sid 0x${rec.sid.toString(16)}`);
  if (rec.ssv === 1 && rec.ssid !== undefined) parts.push(`ssid ${rec.ssid}`);
  return parts.join(' ');
}
