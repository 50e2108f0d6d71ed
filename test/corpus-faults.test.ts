/**
 * The corpus faults of issue 15's second wave, one by one: what each does to a command stream (decoded with
 * the BigInt reference codec of test/cmdq-reference.ts, not with the code under test), the consumer-scenario
 * fault over 20 seeds with its clean twin, the SMMU's reaction where hardware refuses the command (CERROR_ILL,
 * with the same command legal where the architecture allows it), and `simulate --fault` picking the
 * configuration of the faults that need one.
 */
import { describe, expect, it } from 'vitest';
import { CommandChecker, CheckedEntry } from '../src/cmdq/check.js';
import { withFeatures } from '../src/cmdq/features.js';
import { applyFault, type EntryList } from '../src/sim/faults.js';
import { runScenarioOnce } from '../src/sim/scenarios/index.js';
import { entryHalves, refDecode, refEncode, wordsOf } from './cmdq-reference.js';
import { runCliFromSource } from './cli-source-run.js';
import { cmd, SYNC } from './smmu-fixtures.js';

/** Each entry decoded by the reference codec: its name and the fields named. */
function decoded(list: EntryList, ...fields: string[]): string[] {
  return list.map((h) => {
    const [w0, w1] = wordsOf(h[0]!, h[1]!, h[2]!, h[3]!);
    const d = refDecode(w0, w1);
    if (d === null) return 'reserved';
    return [d.name, ...fields.filter((f) => f in d.fields).map((f) => `${f}=${d.fields[f]!.toString()}`)].join(' ');
  });
}

describe('what the new faults do to a command stream', () => {
  it('nested-vmid-missing: VMID 0 in TLBI_NH_VA only (NH_ALL keeps its VMID)', () => {
    const l = [
      cmd('TLBI_NH_VA', { asid: 3, vmid: 7, leaf: 1, tg: 1, ttl: 3, addr: 0x40_0000_0000 }),
      SYNC(),
      cmd('TLBI_NH_ALL', { vmid: 7 }),
      SYNC(),
    ];
    applyFault('nested-vmid-missing', l);
    expect(decoded(l, 'asid', 'vmid', 'addr')).toEqual([
      `TLBI_NH_VA asid=3 vmid=0 addr=${0x40_0000_0000}`,
      'CMD_SYNC',
      'TLBI_NH_ALL vmid=7',
      'CMD_SYNC',
    ]);
  });

  it('nh-under-e2h: EL2_VA / EL2_ASID become NH_VA / NH_ASID with the same ASID and range', () => {
    const l = [
      cmd('TLBI_EL2_VA', { asid: 2, leaf: 1, tg: 1, ttl: 3, num: 4, addr: 0x5000 }),
      cmd('TLBI_EL2_ASID', { asid: 2 }),
      SYNC(),
    ];
    applyFault('nh-under-e2h', l);
    expect(decoded(l, 'asid', 'vmid', 'num', 'addr')).toEqual([
      'TLBI_NH_VA asid=2 vmid=0 num=4 addr=20480',
      'TLBI_NH_ASID asid=2 vmid=0',
      'CMD_SYNC',
    ]);
  });

  it('first-page-only: a range keeps its first page; a per-page run keeps its first command', () => {
    const l = [
      cmd('TLBI_NH_VA', { asid: 1, leaf: 1, tg: 1, ttl: 3, num: 7, scale: 1, addr: 0x10000 }),
      cmd('TLBI_NH_VA', { asid: 1, leaf: 0, tg: 1, ttl: 0, num: 3, addr: 0x20000 }),
      SYNC(),
      cmd('TLBI_NH_VA', { asid: 1, leaf: 1, addr: 0x30000 }),
      cmd('TLBI_NH_VA', { asid: 1, leaf: 1, addr: 0x31000 }),
      cmd('TLBI_NH_VA', { asid: 1, leaf: 1, addr: 0x32000 }),
      cmd('TLBI_NH_VA', { asid: 2, leaf: 1, addr: 0x32000 }),
      SYNC(),
    ];
    applyFault('first-page-only', l);
    expect(decoded(l, 'asid', 'tg', 'ttl', 'num', 'scale', 'addr')).toEqual([
      'TLBI_NH_VA asid=1 tg=1 ttl=3 num=0 scale=0 addr=65536',
      // TTL 0 with NUM = SCALE = 0 would be reserved: the one page becomes a single-address command (TG 0).
      'TLBI_NH_VA asid=1 tg=0 ttl=0 num=0 scale=0 addr=131072',
      'CMD_SYNC',
      'TLBI_NH_VA asid=1 tg=0 ttl=0 num=0 scale=0 addr=196608',
      'TLBI_NH_VA asid=2 tg=0 ttl=0 num=0 scale=0 addr=204800',
      'CMD_SYNC',
    ]);
  });

  it('tg-from-empty-pgsize: TG 3 (64K) on every range command, single-address ones untouched', () => {
    const l = [
      cmd('TLBI_NH_VA', { asid: 1, leaf: 1, tg: 1, ttl: 3, num: 2, addr: 0x10000 }),
      cmd('TLBI_S2_IPA', { vmid: 1, leaf: 1, tg: 1, ttl: 2, addr: 0x20_0000 }),
      cmd('TLBI_NH_VA', { asid: 1, leaf: 1, addr: 0x30000 }),
    ];
    applyFault('tg-from-empty-pgsize', l);
    expect(decoded(l, 'tg', 'ttl', 'num')).toEqual([
      'TLBI_NH_VA tg=3 ttl=3 num=2',
      'TLBI_S2_IPA tg=3 ttl=2 num=0',
      'TLBI_NH_VA tg=0 ttl=0 num=0',
    ]);
  });

  it('scale-beyond-smmu: a whole-ASID flush becomes one NH_VA / EL2_VA over 2^36 pages of 4K from 0', () => {
    const l = [cmd('TLBI_NH_ASID', { asid: 5, vmid: 0 }), cmd('TLBI_EL2_ASID', { asid: 6 }), SYNC()];
    applyFault('scale-beyond-smmu', l);
    expect(decoded(l, 'asid', 'leaf', 'tg', 'ttl', 'num', 'scale', 'addr')).toEqual([
      'TLBI_NH_VA asid=5 leaf=0 tg=1 ttl=0 num=0 scale=36 addr=0',
      'TLBI_EL2_VA asid=6 leaf=0 tg=1 ttl=0 num=0 scale=36 addr=0',
      'CMD_SYNC',
    ]);
  });

  it('faults injected outside the command list leave it alone', () => {
    const base = (): EntryList => [cmd('TLBI_NH_VA', { asid: 1, leaf: 1, tg: 1, ttl: 3, addr: 0x1000 }), SYNC()];
    for (const f of ['no-force-sync', 'illegal-range-encoding', 'end-off-by-one', 'asid-reuse-no-flush'] as const) {
      const l = base();
      applyFault(f, l);
      expect(l, f).toEqual(base());
    }
  });
});

describe('commands hardware refuses (CERROR_ILL), and their legal twins', () => {
  const entry = new CheckedEntry();
  const legal = (h: number[], ds = false): boolean => {
    const c = new CommandChecker({ features: withFeatures({ ds }), queue: 'non-secure', lax: false });
    c.check(h[0]!, h[1]!, h[2]!, h[3]!, entry);
    return entry.error === null;
  };

  it('L11: TG≠0 with TTL = SCALE = NUM = 0 is reserved; NUM 1 (two pages) is legal', () => {
    // Built with the reference encoder: the project's encoder refuses to write it at all.
    const [w0, w1] = refEncode('TLBI_NH_VA', { asid: 1, leaf: 0, tg: 1, ttl: 0, num: 0, scale: 0, addr: 0x1000 });
    expect(legal(entryHalves(w0, w1))).toBe(false);
    expect(legal(cmd('TLBI_NH_VA', { asid: 1, leaf: 0, tg: 1, ttl: 0, num: 1, addr: 0x1000 }))).toBe(true);
  });

  it('L26: SCALE 36 is refused without IDR5.DS and legal with it', () => {
    const l = [cmd('TLBI_NH_ASID', { asid: 5 })];
    applyFault('scale-beyond-smmu', l);
    expect(legal(l[0]!, false)).toBe(false);
    expect(legal(l[0]!, true)).toBe(true);
  });
});

describe('no-atc-on-detach (L3, driver scenario) over 20 seeds', () => {
  for (const policy of ['linux', 'tlbi'] as const) {
    it(`the detached device keeps stale ATC entries; the same seeds with the ATC flush are clean (${policy})`, () => {
      const missed: number[] = [];
      const dirty: number[] = [];
      for (let seed = 1; seed <= 20; seed++) {
        const o = { granule: 4096, ril: true, ats: true, seed, policy, ops: 60 } as const;
        const broken = runScenarioOnce('driver', { ...o, fault: 'no-atc-on-detach' });
        if (broken.stale === 0 || (broken.staleByCache['ATC'] ?? 0) === 0) missed.push(seed);
        if (runScenarioOnce('driver', { ...o, fault: null }).stale > 0) dirty.push(seed);
      }
      expect(missed, 'seeds where the fault went unnoticed').toEqual([]);
      expect(dirty, 'seeds with stale translations without the fault').toEqual([]);
    });
  }
});

describe('simulate --fault picks what the new faults need', () => {
  it('no-force-sync: the MMU-700 erratum, RIL off, long page runs; announced on stderr; exit 1', () => {
    const r = runCliFromSource(['simulate', '--fault', 'linux-309a15cb16bb', '--ops', '300', '--seed', '1']);
    expect(r.stderr).toContain('--ril off');
    expect(r.stderr).toContain('SMMU erratum mmu700-2812531');
    expect(r.stderr).toContain('page runs of 65-128 pages');
    expect(r.code).toBe(1);
  });

  it('illegal-range-encoding: the refused commands make the exit 1; the same run without the fault exits 0', () => {
    const r = runCliFromSource([
      'simulate',
      '--fault',
      'illegal-range-encoding',
      '--ops',
      '60',
      '--seed',
      '2',
      '--json',
    ]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; workload: { illegal: number } };
    expect(doc.ok).toBe(false);
    expect(doc.workload.illegal).toBeGreaterThan(0);
    const clean = runCliFromSource(['simulate', '--ats', 'off', '--ops', '60', '--seed', '2', '--json']);
    expect(clean.code).toBe(0);
    expect((JSON.parse(clean.stdout) as { workload: { illegal: number } }).workload.illegal).toBe(0);
  });

  it('scale-beyond-smmu refuses --ds on (on a DS SMMU SCALE 36 is legal: the fault would not be a fault)', () => {
    const r = runCliFromSource(['simulate', '--fault', 'scale-beyond-smmu', '--ds', 'on', '--ops', '10']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--ds');
  });

  it('nh-under-e2h refuses --e2h off (exit 2, one line naming the option)', () => {
    const r = runCliFromSource(['simulate', '--fault', 'nh-under-e2h', '--e2h', 'off', '--ops', '10']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--e2h');
  });
});
