/**
 * The pKVM hypervisor's filter for the host's emulated command queue. The host kernel writes SMMUv3 commands
 * into a queue the hypervisor traps; before any reaches a real command queue it is decoded and either
 * allowed, rewritten or dropped, so that the host can only invalidate what it owns (stage-1 entries tagged
 * with VMID 0, its own configuration) and can never disturb the hypervisor's stage-2 or a guest's entries.
 * Every decision is reported with its reason.
 *
 * Per-StreamID commands (CFGI_STE, CFGI_CD, CFGI_CD_ALL, ATC_INV, PRI_RESP, RESUME, STALL_TERM,
 * PREFETCH_*) are forwarded only for StreamIDs the host owns — the streams whose STEs the hypervisor
 * shadows for the host and that were not donated to a VM. Without that check the host could resume or
 * terminate a VM device's stalled transactions (§4.7.1, §4.7.2), answer its page requests (§4.5.2), or make
 * the hypervisor re-shadow a VM's STE (CFGI_STE). The whole-SMMU CFGI_ALL is the one configuration
 * command accepted for every StreamID: it only makes the SMMU re-read STEs the hypervisor wrote.
 */
import { CommandChecker, decodeHalves, encodeHalves, wordsToJson, type Command } from '../cmdq/index.js';

export type FilterAction = 'allowed' | 'rewritten' | 'dropped' | 'illegal';

export interface FilterDecision {
  readonly index: number;
  readonly action: FilterAction;
  /** Command name, or undefined for an illegal entry with a reserved opcode. */
  readonly command: string | undefined;
  readonly reason: string;
  /** The host's entry as two 64-bit hex words. */
  readonly words: readonly [string, string];
  /** What goes to the real queue (allowed / rewritten), as two 64-bit hex words. */
  readonly forwarded?: readonly [string, string];
}

/** The host's own VMID: the hypervisor runs host DMA through the identity stage-2 table tagged VMID 0. */
export const HOST_VMID = 0;

const SEV = 2;

type Verdict = { action: 'allowed' | 'dropped'; reason: string } | { action: 'rewritten'; reason: string; to: Command };

/** Which StreamIDs of this SMMU the host owns (shadowed host STEs not donated to a VM). */
export interface StreamOwnership {
  hostOwns(sid: number): boolean;
}

/** Every StreamID is the host's (no VM and no hypervisor stream on the SMMU). */
export const HOST_OWNS_ALL: StreamOwnership = { hostOwns: () => true };

/** The StreamID a per-stream command names, or undefined for commands that name none. */
function streamOf(c: Command): number | undefined {
  switch (c.name) {
    case 'CFGI_STE':
    case 'CFGI_CD':
    case 'CFGI_CD_ALL':
    case 'ATC_INV':
    case 'PRI_RESP':
    case 'RESUME':
    case 'STALL_TERM':
    case 'PREFETCH_CONFIG':
    case 'PREFETCH_ADDR':
      return c.sid;
    default:
      return undefined;
  }
}

function judge(c: Command, own: StreamOwnership): Verdict {
  const sid = streamOf(c);
  if (sid !== undefined && !own.hostOwns(sid))
    return {
      action: 'dropped',
      reason: `${c.name} names StreamID ${sid}, which the host does not own (a VM's or the hypervisor's stream)`,
    };
  switch (c.name) {
    case 'TLBI_NH_ASID':
    case 'TLBI_NH_VA':
    case 'TLBI_NH_VAA':
      return c.vmid === HOST_VMID
        ? { action: 'allowed', reason: 'host stage-1 invalidation tagged with the host VMID 0' }
        : {
            action: 'dropped',
            reason: `VMID ${c.vmid} is not the host's (only VMID ${HOST_VMID} may be named by the host)`,
          };
    case 'CFGI_STE_RANGE':
      return c.range === 31
        ? { action: 'allowed', reason: 'CFGI_ALL (Range=31): the hypervisor re-reads every shadowed STE' }
        : {
            action: 'dropped',
            reason: `CFGI_STE_RANGE with Range=${c.range}: only Range=31 (CFGI_ALL) is accepted from the host`,
          };
    case 'CFGI_STE':
    case 'CFGI_CD':
    case 'CFGI_CD_ALL':
      return { action: 'allowed', reason: 'configuration invalidation of a host stream (its STE is shadowed)' };
    case 'TLBI_NH_ALL':
      return {
        action: 'dropped',
        reason: 'TLBI_NH_ALL names a VMID; the hypervisor issues it for VMID 0 itself after stage-2 changes',
      };
    case 'TLBI_S12_VMALL':
    case 'TLBI_S2_IPA':
      return { action: 'dropped', reason: 'stage 2 belongs to the hypervisor: the host may not invalidate it' };
    case 'TLBI_EL2_ALL':
    case 'TLBI_EL2_ASID':
    case 'TLBI_EL2_VA':
    case 'TLBI_EL2_VAA':
      return { action: 'dropped', reason: 'EL2 translation regime belongs to the hypervisor' };
    case 'TLBI_EL3_ALL':
    case 'TLBI_EL3_VA':
      return { action: 'dropped', reason: 'EL3 invalidation is never accepted from the host' };
    case 'TLBI_NSNH_ALL':
      return {
        action: 'rewritten',
        reason: 'TLBI_NSNH_ALL would flush every VM; narrowed to TLBI_NH_ALL(VMID 0), the host stage-1 entries',
        to: { name: 'TLBI_NH_ALL', vmid: HOST_VMID },
      };
    case 'CMD_SYNC':
      return c.cs === 1
        ? {
            action: 'rewritten',
            reason: 'CMD_SYNC with CS=IRQ: the host may not make the SMMU write an MSI; downgraded to SEV',
            to: { name: 'CMD_SYNC', cs: SEV, msh: c.msh, msiattr: c.msiattr, msidata: 0, msiaddr: 0 },
          }
        : { action: 'allowed', reason: 'CMD_SYNC without MSI' };
    case 'ATC_INV':
    case 'PRI_RESP':
    case 'RESUME':
    case 'STALL_TERM':
    case 'PREFETCH_CONFIG':
    case 'PREFETCH_ADDR':
      return { action: 'allowed', reason: 'command on a host stream' };
    case 'CFGI_VMS_PIDM':
      return { action: 'dropped', reason: 'VMS configuration belongs to the hypervisor' };
  }
}

/**
 * Filter the host's entries (u32 halves, 4 per entry). Forwarded entries are appended to `forward` (a u32
 * array with room for `count` entries) and their number returned with every decision.
 */
export function filterHostCommands(
  host: Uint32Array,
  count: number,
  checker: CommandChecker,
  own: StreamOwnership = HOST_OWNS_ALL,
): { decisions: FilterDecision[]; forward: Uint32Array; forwarded: number } {
  const decisions: FilterDecision[] = [];
  const forward = new Uint32Array(count * 4);
  let n = 0;
  for (let k = 0; k < count; k++) {
    const h0 = host[k * 4]!;
    const h1 = host[k * 4 + 1]!;
    const h2 = host[k * 4 + 2]!;
    const h3 = host[k * 4 + 3]!;
    const words = wordsToJson(h0, h1, h2, h3);
    const r = decodeHalves(h0, h1, h2, h3, checker);
    if (!r.ok) {
      decisions.push({
        index: k,
        action: 'illegal',
        command: r.error.command,
        reason: `${r.error.field}: ${r.error.reason} (reported to the host as CERROR_ILL)`,
        words,
      });
      continue;
    }
    const v = judge(r.command, own);
    if (v.action === 'dropped') {
      decisions.push({ index: k, action: 'dropped', command: r.command.name, reason: v.reason, words });
      continue;
    }
    const out = v.action === 'rewritten' ? encodeHalves(v.to, checker) : [h0, h1, h2, h3];
    forward.set(out, n * 4);
    n++;
    decisions.push({
      index: k,
      action: v.action,
      command: r.command.name,
      reason: v.reason,
      words,
      forwarded: wordsToJson(out[0]!, out[1]!, out[2]!, out[3]!),
    });
  }
  return { decisions, forward, forwarded: n };
}
