/**
 * `audit` on an SMMU with IDR5.DS (issue 14 item 11): the 6-bit SCALE (w0[25:20], up to 39) is legal only
 * with DS, and the re-planning runs the engine with the SMMU option `ds` taken from IDR5.DS (registers,
 * --idr5, --regs, a capture's registers), so a DS-aware driver's one-command 32 TiB flush is recognised
 * as the linux policy's plan. Streams are written with the BigInt reference encoder (test/cmdq-reference.ts),
 * not by the engine; each DS case has its non-DS twin.
 */
import { describe, expect, it } from 'vitest';
import { CommandChecker } from '../src/cmdq/index.js';
import { featuresFromIdRegs } from '../src/cmdq/features.js';
import { auditStream, type AuditReport } from '../src/audit/index.js';
import { entryHalves, refEncode } from './cmdq-reference.js';
import { runCliFromSource } from './cli-source-run.js';
import { streamOf, type Raw } from './audit-helpers.js';

/** IDR5 with DS (bit 7) and OAS = 48 bits (5). */
const IDR5_DS = 0x85;
const IDR5_NO_DS = 0x05;

function raw(name: string, fields: Record<string, number>): Raw {
  const [w0, w1] = refEncode(name, fields);
  return entryHalves(w0, w1);
}

const SYNC = raw('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 });
/** 2^33 pages of 4 KiB from 0 (32 TiB) as one command: NUM 0, SCALE 33 — what Linux's loop gives with DS. */
const FLUSH_DS = raw('TLBI_NH_VA', { asid: 5, num: 0, scale: 33, leaf: 1, ttl: 3, tg: 1, addr: 0 });
/** The same span without DS: SCALE is 5 bits, so NUM 3 at SCALE 31. */
const FLUSH_NO_DS = raw('TLBI_NH_VA', { asid: 5, num: 3, scale: 31, leaf: 1, ttl: 3, tg: 1, addr: 0 });

function audit(cmd: Raw, idr5: number): AuditReport {
  const checker = new CommandChecker({ features: featuresFromIdRegs({ idr5 }) });
  return auditStream(streamOf(cmd, SYNC), { checker, replan: true });
}

describe('re-planning with IDR5.DS', () => {
  it('a SCALE-33 flush on a DS SMMU is legal and identical to the linux policy planned with ds', () => {
    const r = audit(FLUSH_DS, IDR5_DS);
    expect(r.findings).toEqual([]);
    const rp = r.replan!;
    expect(rp.requests).toBe(1);
    expect(rp.identical).toBe(1);
    expect(rp.rows[0]!.size).toBe(2 ** 45);
    expect(rp.linux.commands).toBe(1);
  });

  it('twin without DS: the same words are refused (SCALE above 31 is reserved), nothing is planned as identical', () => {
    const r = audit(FLUSH_DS, IDR5_NO_DS);
    expect(r.findings.length).toBeGreaterThan(0);
    expect(r.replan!.identical).toBe(0);
  });

  it('the 5-bit form is what the linux policy gives without DS, and differs (split) from its DS plan', () => {
    const plain = audit(FLUSH_NO_DS, IDR5_NO_DS);
    expect(plain.findings).toEqual([]);
    expect(plain.replan!.identical).toBe(1);
    const ds = audit(FLUSH_NO_DS, IDR5_DS);
    expect(ds.findings).toEqual([]);
    expect(ds.replan!.identical).toBe(0);
    expect(ds.replan!.differences).toEqual({ split: 1 });
  });

  it('audit --idr5 and --regs (IDR5) take DS from the register (CLI)', () => {
    const words = (h: Raw): string[] => [
      `0x${((BigInt(h[1]) << 32n) | BigInt(h[0])).toString(16)}`,
      `0x${((BigInt(h[3]) << 32n) | BigInt(h[2])).toString(16)}`,
    ];
    const args = [...words(FLUSH_DS), ...words(SYNC)];
    for (const reg of [
      ['--idr5', String(IDR5_DS)],
      ['--regs', JSON.stringify({ IDR5: IDR5_DS })],
    ]) {
      const r = runCliFromSource(['audit', ...reg, '--json', ...args]);
      expect(r.code, reg.join(' ')).toBe(0);
      const doc = JSON.parse(r.stdout) as { replan: { identical: number; requests: number } };
      expect(doc.replan.requests).toBe(1);
      expect(doc.replan.identical).toBe(1);
    }
    const no = runCliFromSource(['audit', '--idr5', String(IDR5_NO_DS), '--json', ...args]);
    expect(no.code).toBe(1);
  });
});
