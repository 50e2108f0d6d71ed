/**
 * The audit rules for the bug corpus's stream-visible classes (src/audit/rules-corpus.ts, and the existing
 * rules that catch the others): each rule fires on a hand-written stream and stays quiet on its clean twin;
 * the stream `simulate --fault NAME --emit-stream` writes is caught by `audit --file FILE --regs FILE.json`
 * (exit 1, the rule named) while the same seed and configuration without the fault gives 0 findings (exit 0).
 * The real samples stay at 0 findings (test/audit-samples.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCommand } from '../src/cmdq/index.js';
import { StreamRecorder } from '../src/cli/simulate-stream.js';
import { RULES } from '../src/audit/rules-table.js';
import { faultSetup, listFaults } from '../src/corpus/index.js';
import type { FaultName } from '../src/sim/faults.js';
import { runSimulation, type SimConfig } from '../src/sim/workload.js';
import { found, run, sync, va } from './audit-helpers.js';
import { runCliFromSource } from './cli-source-run.js';

const atc = (sid: number, size = 52, addr = 0) =>
  makeCommand('ATC_INV', { sid, ssid: 0, ssv: 0, global: 0, size, addr });
const nhAsid = (asid: number, vmid: number) => makeCommand('TLBI_NH_ASID', { asid, vmid });
const nhAll = (vmid: number) => makeCommand('TLBI_NH_ALL', { vmid });
const s2 = (vmid: number, addr: number) =>
  makeCommand('TLBI_S2_IPA', { vmid, addr, num: 0, scale: 0, ttl: 3, tg: 1, leaf: 1 });

describe('corpus rules on hand-written streams', () => {
  it('atc-before-tlbi (L4): ATC_INV, then the TLBI, one CMD_SYNC — and the Linux order is clean', () => {
    expect(found(run([atc(5), va(1, 0x1000), sync()]))).toEqual(['atc-before-tlbi@0']);
    // Several ATC_INVs before the last TLBI: each one is reported (the second is also after a TLBI).
    expect(found(run([atc(5), va(1, 0x1000), atc(6), va(1, 0x2000), sync()]))).toEqual([
      'atc-before-tlbi@0',
      'atc-before-sync@2',
      'atc-before-tlbi@2',
    ]);
    expect(found(run([va(1, 0x1000), sync(), atc(5), sync()]))).toEqual([]);
  });

  it('nested-vmid-missing (L2): NH_VA of a guest ASID with VMID 0 — the VMID-carrying twin is clean', () => {
    const tail = [s2(1, 0x8000_0000), sync(), nhAll(1), sync()];
    const bad = [va(3, 0x1000, { vmid: 0 }), sync(), nhAsid(3, 1), sync(), ...tail];
    expect(found(run(bad, { nestedVmids: [1] }))).toEqual(['nested-vmid-missing@0']);
    // Inferred nesting (VMID 1 in S2_IPA and NH_*) finds it too.
    expect(found(run(bad))).toEqual(['nested-vmid-missing@0']);
    const good = [va(3, 0x1000, { vmid: 1 }), sync(), nhAsid(3, 1), sync(), ...tail];
    expect(found(run(good, { nestedVmids: [1] }))).toEqual([]);
    // No nesting at all: VMID 0 is what a plain stage 1 uses.
    expect(found(run([va(3, 0x1000), sync(), nhAsid(3, 0), sync()]))).toEqual([]);
  });

  it('nh-under-e2h (L19): NH_VA / NH_ASID with CR2.E2H set — EL2_VA / EL2_ASID are clean, and NH_* without E2H', () => {
    const bad = [va(2, 0x1000), sync(), nhAsid(2, 0), sync()];
    expect(found(run(bad, { e2h: true }))).toEqual(['nh-under-e2h@0', 'nh-under-e2h@2']);
    expect(found(run(bad))).toEqual([]);
    const el2 = [
      makeCommand('TLBI_EL2_VA', { asid: 2, addr: 0x1000, num: 0, scale: 0, ttl: 3, tg: 1, leaf: 1 }),
      sync(),
      makeCommand('TLBI_EL2_ASID', { asid: 2 }),
      sync(),
    ];
    expect(found(run(el2, { e2h: true }))).toEqual([]);
    // A nested guest's NH_* under E2H (its parent VMID is a nesting VMID) is what E2H leaves to NH_*.
    const guest = [va(2, 0x1000, { vmid: 1 }), sync(), s2(1, 0x1000), sync(), nhAll(1), sync()];
    expect(found(run(guest, { e2h: true }))).toEqual([]);
  });

  it('sync-msidata-order (L1): an MSI CMD_SYNC writing a lower MSIData to the same address than one queued before it — increasing, wrapping, per-slot and SEV twins are clean', () => {
    const SYNC_COUNT = 0x8_1234_5670; // one polled word, as 4.14–4.19's smmu->sync_count
    const msi = (msidata: number, msiaddr = SYNC_COUNT) =>
      makeCommand('CMD_SYNC', { cs: 1, msh: 3, msiattr: 0xf, msidata, msiaddr });
    // Two CPUs took 7 and 8 before the queue lock and queued them the other way round.
    const bad = [va(1, 0x1000), msi(8), va(1, 0x2000), msi(7), va(1, 0x3000), msi(9)];
    expect(found(run(bad))).toEqual(['sync-msidata-order@3']);
    const f = run(bad).findings[0]!;
    expect(f.related).toEqual([1]);
    expect(f.message).toContain('0x7');
    expect(f.message).toContain('0x8');
    // Across the windows of a streamed audit (a window of 2 entries ends after each CMD_SYNC).
    expect(found(run(bad, { window: 2 }))).toEqual(['sync-msidata-order@3']);
    // The fixed driver: the number taken under the lock, so increasing in queue order.
    expect(found(run([va(1, 0x1000), msi(7), va(1, 0x2000), msi(8), va(1, 0x3000), msi(9)]))).toEqual([]);
    // The counter wraps (the waiters compare a signed 32-bit difference).
    expect(found(run([va(1, 0x1000), msi(0xffff_ffff), va(1, 0x2000), msi(0)]))).toEqual([]);
    // Different addresses are different waiters; Linux 5.x+ writes 0 to each SYNC's own slot.
    expect(found(run([va(1, 0x1000), msi(8, 0x4000_0010), va(1, 0x2000), msi(7, 0x4000_0020)]))).toEqual([]);
    expect(found(run([va(1, 0x1000), msi(0, 0x4000_0010), va(1, 0x2000), msi(0, 0x4000_0010)]))).toEqual([]);
    // CS=SEV writes no MSI, whatever MSIData holds.
    const sev = (msidata: number) =>
      makeCommand('CMD_SYNC', { cs: 2, msh: 3, msiattr: 0xf, msidata, msiaddr: SYNC_COUNT });
    expect(found(run([va(1, 0x1000), sev(8), va(1, 0x2000), sev(7)]))).toEqual([]);
  });

  it('long-batch at 63 (L15, MMU-700): 64 TLBIs before the CMD_SYNC; 63 are clean', () => {
    const pages = (n: number) => Array.from({ length: n }, (_, k) => va(1, 0x1000 * (k + 1), { tg: 0, ttl: 0 }));
    expect(found(run([...pages(64), sync()], { maxBatch: 63 }))).toEqual(['long-batch@63']);
    expect(found(run([...pages(63), sync()], { maxBatch: 63 }))).toEqual([]);
  });
});

describe('performance lints (audit --lints; exit 0 unless --strict)', () => {
  const lints = { lints: true } as const;
  it('sync-without-work (L5): a CMD_SYNC right after a CMD_SYNC; one after a command is clean', () => {
    expect(found(run([va(1, 0x1000), sync(), sync()], lints))).toEqual(['sync-without-work@2']);
    expect(found(run([va(1, 0x1000), sync(), sync()]))).toEqual([]); // lints are opt-in
    expect(found(run([va(1, 0x1000), sync(), va(1, 0x2000), sync()], lints))).toEqual([]);
    // The stream's first entry may complete commands from before the dump.
    expect(found(run([sync(), va(1, 0x1000), sync()], lints))).toEqual([]);
  });

  it('per-page-storm (L12): 512 address TLBIs of one ASID in one batch; 511, or two ASIDs of 256, are clean', () => {
    const pages = (n: number, asid = 1) =>
      Array.from({ length: n }, (_, k) => va(asid, 0x1000 * (k + 1), { tg: 0, ttl: 0 }));
    expect(found(run([...pages(512), sync()], lints))).toEqual(['per-page-storm@511']);
    expect(found(run([...pages(511), sync()], lints))).toEqual([]);
    expect(found(run([...pages(256, 1), ...pages(256, 2), sync()], lints))).toEqual([]);
  });

  it('whole-tag-small-range (L20): NH_ASID, then ATC_INVs of 8 pages; a full ATC flush or a range TLBI is clean', () => {
    expect(found(run([nhAsid(1, 0), sync(), atc(5, 3, 0x8000), sync()], lints))).toEqual(['whole-tag-small-range@0']);
    expect(found(run([nhAsid(1, 0), sync(), atc(5, 52), sync()], lints))).toEqual([]);
    expect(found(run([va(1, 0x8000, { num: 7 }), sync(), atc(5, 3, 0x8000), sync()], lints))).toEqual([]);
    // 511 pages is below the threshold, 512 is not.
    expect(found(run([nhAsid(1, 0), sync(), atc(5, 9, 0), sync()], lints))).toEqual([]);
  });

  it('the real Linux 6.1 ring: 0 findings by default; --lints shows its two empty CMD_SYNCs (exit 0); --strict exit 1', () => {
    const plain = runCliFromSource(['audit', '--sample', '--no-replan']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('Findings: 0');
    const l = runCliFromSource(['audit', '--sample', '--no-replan', '--lints']);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/sync-without-work +2/);
    const strict = runCliFromSource(['audit', '--sample', '--no-replan', '--strict']);
    expect(strict.code).toBe(1);
  });
});

/** Faults whose stream shows them, and the rule that reports it. */
/** Every fault the catalog says shows in a command stream, with the audit rule that reports it. */
const STREAM_RULES: [FaultName, string][] = listFaults().flatMap((f) =>
  'rule' in f.inStream ? [[f.name, f.inStream.rule] as [FaultName, string]] : [],
);

it('the catalog names an audit rule for the eight faults with a stream rule, a reason for every other one', () => {
  expect(STREAM_RULES.map(([f]) => f).sort()).toEqual(
    [
      'atc-before-tlbi',
      'drop-sync',
      'illegal-range-encoding',
      'nested-vmid-missing',
      'nh-under-e2h',
      'no-force-sync',
      'no-nested-s1-clear',
      'scale-beyond-smmu',
    ].sort(),
  );
  for (const f of listFaults()) {
    if ('rule' in f.inStream) expect(Object.keys(RULES), f.name).toContain(f.inStream.rule);
    else expect(f.inStream.reason.length, f.name).toBeGreaterThan(40);
  }
});

const dir = mkdtempSync(join(tmpdir(), 'smmuv3-audit-corpus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function emit(fault: FaultName, withFault: boolean, file: string): void {
  const s = faultSetup(fault);
  const cfg: SimConfig = {
    granule: s.granule ?? 4096,
    stage: s.stage ?? '1',
    ril: s.ril ?? true,
    ats: s.ats ?? true,
    ...(s.e2h !== undefined ? { e2h: s.e2h } : {}),
    ...(s.errata !== undefined ? { errata: s.errata } : {}),
    ...(s.longRuns !== undefined ? { longRuns: s.longRuns } : {}),
    smmus: 1,
    ops: fault === 'no-nested-s1-clear' ? 400 : 150,
    seed: 3,
    policy: 'linux',
    fault: withFault ? fault : null,
  };
  const rec = new StreamRecorder();
  runSimulation({ ...cfg, onCommands: rec.onCommands });
  rec.write(file, cfg);
}

function audit(file: string): { code: number | null; rules: Record<string, number> } {
  const r = runCliFromSource(['audit', '--json', '--no-replan', '--file', file, '--regs', `${file}.json`]);
  const doc = JSON.parse(r.stdout) as { records: { type: string; rule?: string }[] };
  const rules: Record<string, number> = {};
  for (const f of doc.records) if (f.type === 'finding') rules[f.rule!] = (rules[f.rule!] ?? 0) + 1;
  return { code: r.code, rules };
}

describe('the streams simulate --fault --emit-stream writes, audited', () => {
  for (const [fault, rule] of STREAM_RULES) {
    it(`${fault}: ${rule} (exit 1); the same seed without the fault: 0 findings (exit 0)`, () => {
      const bad = join(dir, `${fault}.bin`);
      const good = join(dir, `${fault}-clean.bin`);
      emit(fault, true, bad);
      emit(fault, false, good);
      const b = audit(bad);
      expect(b.rules[rule] ?? 0).toBeGreaterThan(0);
      expect(b.code).toBe(1);
      const g = audit(good);
      expect(g.rules).toEqual({});
      expect(g.code).toBe(0);
    });
  }

  it('simulate --emit-stream on the command line writes the dump and registers audit reads', () => {
    const file = join(dir, 'cli.bin');
    const r = runCliFromSource([
      'simulate',
      '--fault',
      'atc-before-tlbi',
      '--ops',
      '100',
      '--seed',
      '4',
      '--emit-stream',
      file,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`audit --file ${file} --regs ${file}.json`);
    const regs = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Record<string, string | number>;
    expect(readFileSync(file).length).toBe(2 ** (regs['log2size'] as number) * 16);
    expect(regs['bytes']).toBe(readFileSync(file).length);
    expect(Number(regs['CMDQ_PROD'])).toBe(Number(regs['CMDQ_CONS']));
    const a = audit(file);
    expect(a.rules['atc-before-tlbi']).toBeGreaterThan(0);
  });

  it('--emit-stream with --scenario is a usage error naming the option', () => {
    const r = runCliFromSource(['simulate', '--scenario', 'driver', '--emit-stream', join(dir, 'x.bin')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--emit-stream');
  });
});
