/**
 * fast-check arbitraries for the codec tests: legal commands of every kind for a given SMMU configuration,
 * built from the independent reference layout (test/cmdq-reference.ts), with the legality rules of the issue
 * applied by construction (not by asking the code under test).
 */
import fc from 'fast-check';
import type { Command, CommandName, QueueKind, SmmuFeatures } from '../src/cmdq/index.js';
import { REF, REF_NAMES } from './cmdq-reference.js';

export interface Config {
  readonly label: string;
  readonly features: SmmuFeatures;
  readonly queue: QueueKind;
}

/** Commands available under `cfg` (the availability rules, restated). */
export function availableNames(cfg: Config): CommandName[] {
  const f = cfg.features;
  return (REF_NAMES as CommandName[]).filter((n) => {
    if (n.startsWith('TLBI_NH_') || n.startsWith('CFGI_CD')) return f.stage1;
    if (n === 'TLBI_S2_IPA' || n === 'TLBI_S12_VMALL') return f.stage2;
    if (n === 'ATC_INV') return f.ats;
    if (n === 'PRI_RESP') return f.pri;
    if (n.startsWith('TLBI_EL2_')) return f.stage1 && f.hyp;
    if (n === 'RESUME' || n === 'STALL_TERM') return f.stallModel !== 1;
    if (n === 'CFGI_VMS_PIDM') return f.mpam;
    if (n.startsWith('TLBI_EL3_')) return f.stage1 && cfg.queue === 'secure';
    return true;
  });
}

/** An unsigned value of `width` bits, biased towards 0 and the maximum. */
export function uintBits(width: number): fc.Arbitrary<number> {
  const max = 2 ** width - 1;
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(0, max) },
    { weight: 4, arbitrary: width === 32 ? fc.nat({ max: 0xffffffff }) : fc.integer({ min: 0, max }) },
  );
}

/** A byte address with bits [lsb-1:0] zero and below 2^(msb+1), as an exact number. */
export function address(lsb: number, msb: number): fc.Arbitrary<number> {
  const top = (1n << BigInt(msb + 1 - lsb)) - 1n;
  return fc
    .oneof(fc.constantFrom(0n, top), fc.bigInt({ min: 0n, max: top }))
    .map((units) => Number(units << BigInt(lsb)));
}

/** Raw field values of `name` (each within its width), before legality fix-ups. */
function rawFields(name: CommandName): fc.Arbitrary<Record<string, number>> {
  const r = REF[name]!;
  const rec: Record<string, fc.Arbitrary<number>> = {};
  for (const [f, , , width] of r.fields) rec[f] = uintBits(width);
  if (r.addr) rec[r.addr.name] = address(r.addr.lsb, r.addr.msb);
  return fc.record(rec);
}

/** Make a raw field assignment legal under `cfg` (the reserved-value and RES0 rules). */
function legalise(name: CommandName, x: Record<string, number>, cfg: Config): Record<string, number> {
  const f = cfg.features;
  const c = { ...x };
  if ('ssec' in c && cfg.queue === 'non-secure') c.ssec = 0;
  if (name === 'CMD_SYNC' && c.cs === 3) c.cs = 2;
  if (name === 'PRI_RESP' && c.resp === 3) c.resp = 2;
  if (name === 'ATC_INV' && c.size! > 52) c.size = c.size! % 53;
  if ('asid' in c && !f.asid16) c.asid = c.asid! & 0xff;
  if ('vmid' in c) {
    if (name.startsWith('TLBI_NH_') && !f.stage2) c.vmid = 0;
    else if (!f.vmid16) c.vmid = c.vmid! & 0xff;
  }
  if ('tg' in c) {
    if (!f.ril) c.tg = c.num = c.scale = c.ttl = 0;
    if (!f.ds) c.scale = c.scale! & 31;
    if (c.tg === 0) c.num = c.scale = c.ttl = 0;
    else if (c.num === 0 && c.scale === 0 && (c.ttl === 0 || (c.tg === 2 && c.ttl === 1 && !f.ds))) c.num = 1;
  }
  return c;
}

/** A legal command of kind `name` under `cfg`. */
export function legalCommandOf(name: CommandName, cfg: Config): fc.Arbitrary<Command> {
  return rawFields(name).map((x) => ({ name, ...legalise(name, x, cfg) }) as unknown as Command);
}

/** A legal command of any kind available under `cfg`. */
export function legalCommand(cfg: Config): fc.Arbitrary<Command> {
  return fc.constantFrom(...availableNames(cfg)).chain((n) => legalCommandOf(n, cfg));
}
