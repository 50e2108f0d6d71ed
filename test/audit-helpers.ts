/** Shared builders for the audit tests: streams of commands encoded through the codec (not the engine). */
import { encodeHalves, makeCommand, type Command, CommandChecker } from '../src/cmdq/index.js';
import { AuditStream, auditStream, type AuditOptions, type AuditReport } from '../src/audit/index.js';

export type Raw = readonly [number, number, number, number];
export type Item = Command | Raw;

const LAX = new CommandChecker({ lax: true });

export function halvesOf(items: readonly Item[]): Uint32Array {
  const u = new Uint32Array(items.length * 4);
  items.forEach((it, k) => {
    const h = Array.isArray(it) ? (it as Raw) : encodeHalves(it as Command, LAX);
    u.set(h, k * 4);
  });
  return u;
}

export function streamOf(...items: Item[]): AuditStream {
  return AuditStream.fromHalves(halvesOf(items));
}

export function run(items: Item[], o: AuditOptions = {}): AuditReport {
  return auditStream(streamOf(...items), { replan: false, ...o });
}

/** "rule@index" for each finding. */
export function found(rep: AuditReport): string[] {
  return rep.findings.map((f) => `${f.rule}@${f.index}`);
}

export const sync = (): Command => makeCommand('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 });

export function va(
  asid: number,
  addr: number,
  o: { num?: number; scale?: number; ttl?: number; tg?: number; leaf?: number; vmid?: number } = {},
): Command {
  return makeCommand('TLBI_NH_VA', {
    asid,
    vmid: o.vmid ?? 0,
    addr,
    num: o.num ?? 0,
    scale: o.scale ?? 0,
    ttl: o.ttl ?? 3,
    tg: o.tg ?? 1,
    leaf: o.leaf ?? 1,
  });
}

export function ipa(
  vmid: number,
  addr: number,
  o: { num?: number; scale?: number; ttl?: number; tg?: number; leaf?: number } = {},
): Command {
  return makeCommand('TLBI_S2_IPA', {
    vmid,
    addr,
    num: o.num ?? 0,
    scale: o.scale ?? 0,
    ttl: o.ttl ?? 3,
    tg: o.tg ?? 1,
    leaf: o.leaf ?? 1,
  });
}

export const nhAll = (vmid: number): Command => makeCommand('TLBI_NH_ALL', { vmid });
export const nhAsid = (asid: number, vmid = 0): Command => makeCommand('TLBI_NH_ASID', { asid, vmid });
export const s12 = (vmid: number): Command => makeCommand('TLBI_S12_VMALL', { vmid });
export const atc = (sid: number, addr = 0, size = 0): Command => makeCommand('ATC_INV', { sid, addr, size });
