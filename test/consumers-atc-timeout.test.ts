/**
 * ATC invalidation timeouts in both consumers (issue 14 item 12, consumer side; IHI 0070 4.7.3, 3.9.1.4):
 * an ATS endpoint that does not answer makes the CMD_SYNC after its ATC_INV raise CERROR_ATC_INV_SYNC. The
 * consumer acknowledges it (GERRORN), the SYNC runs again, and — because that SYNC gives no guarantee for the
 * lost ATC_INV — the device is quarantined (STE blocked with CFGI_STE + CMD_SYNC, endpoint reset, STE back)
 * before the IOVA or page is reused. Fault `ignore-atc-timeout` skips the quarantine: the stale checker (the
 * SMMU model's view of the device's ATC against the live tables) and an access after reuse catch it; every
 * faulty case has a twin with the quarantine that stays clean.
 */
import { describe, expect, it } from 'vitest';
import { encodeHalves, makeCommand } from '../src/cmdq/index.js';
import { Opcode } from '../src/cmdq/opcodes.js';
import { Driver } from '../src/consumers/driver.js';
import { Hypervisor } from '../src/consumers/pkvm.js';
import { DEFAULT_SMMU_SPEC, type SmmuPort } from '../src/consumers/smmu-port.js';
import { faultInjection, type FaultName } from '../src/sim/faults.js';
import { Rng } from '../src/smmu/rng.js';
import {
  runDriverScenario,
  runNestedScenario,
  runPkvmScenario,
  type ScenarioOptions,
} from '../src/sim/scenarios/index.js';
import { runCliFromSource } from './cli-source-run.js';

/** Opcodes of every entry a port's queue receives, in order. */
function tapOps(port: SmmuPort): number[] {
  const seen: number[] = [];
  const m = port.model;
  const orig = m.submit.bind(m);
  m.submit = (u32: Uint32Array, from: number, count: number): number => {
    for (let k = 0; k < count; k++) seen.push(u32[(from + k) * 4]! & 0xff);
    return orig(u32, from, count);
  };
  return seen;
}

/** One ATS master (StreamID 1) and a bystander without ATS (StreamID 2) on a stage-1 domain; 8 pages mapped and used. */
function driverScene(fault?: FaultName, timeouts = 1) {
  const drv = new Driver({ smmus: [DEFAULT_SMMU_SPEC], granule: 4096, seed: 5, injection: faultInjection(fault) });
  const d = drv.createDomain('s1', 'tlbi');
  const m = drv.addMaster(0, [1], true);
  const other = drv.addMaster(0, [2], false);
  drv.attach(m, d);
  drv.attach(other, d);
  const b = drv.dmaMap(d, 8 * 4096)!;
  const rng = new Rng(1);
  for (let i = 0; i < 8; i++) drv.dmaAccess(m, 0, b, rng, 8);
  const model = drv.port(0).model;
  expect(model.atc.size).toBeGreaterThan(0);
  model.setEndpointTimeouts(1, timeouts);
  return { drv, d, m, b, model, rng };
}

/** After the unmap: the freed memory goes to another domain's buffer, the freed IOVA to a new buffer of the domain. */
function reuse(s: ReturnType<typeof driverScene>) {
  const thief = s.drv.dmaMap(s.drv.createDomain('s1', 'tlbi'), 8 * 4096)!;
  expect(thief.pa).toBe(s.b.pa);
  const again = s.drv.dmaMap(s.d, 8 * 4096)!;
  expect(again.iova).toBe(s.b.iova);
  expect(again.pa).not.toBe(s.b.pa);
  return again;
}

describe('driver: CERROR_ATC_INV_SYNC on an unmap', () => {
  it('is acknowledged, the device quarantined before the IOVA is reused, and nothing is stale', () => {
    const s = driverScene();
    const ops = tapOps(s.drv.port(0));
    s.drv.dmaUnmap(s.d, s.b);
    const port = s.drv.port(0);
    expect(port.atcSyncErrors).toBe(1);
    expect(s.drv.counters.atcTimeouts).toBe(1);
    expect(s.drv.counters.quarantines).toBe(1);
    expect(port.model.queue.stalled).toBe(false);
    // After the plan (TLBIs, SYNC, ATC_INV, SYNC): CFGI_STE + SYNC (blocked), then the STE back (CFGI_STE + SYNC).
    const afterAtc = ops.slice(ops.lastIndexOf(Opcode.ATC_INV) + 2);
    expect(afterAtc.filter((o) => o === Opcode.CFGI_STE).length).toBeGreaterThanOrEqual(2);
    expect(afterAtc[0]).toBe(Opcode.CFGI_STE);
    expect(afterAtc[1]).toBe(Opcode.CMD_SYNC);
    // The reset emptied the ATC; the checker finds nothing, the STE in the SMMU is the one in memory.
    expect(s.drv.stale.count).toBe(0);
    expect(s.drv.checkEverything()).toBe(0);
    expect(port.model.streams.get(1)?.mode).toBe('stage1');
    // The memory goes to another domain, the IOVA to a new buffer: the device reaches the new buffer.
    const again = reuse(s);
    s.drv.dmaAccess(s.m, 0, again, s.rng, 8);
    expect(s.drv.counters.wrongTranslations).toBe(0);
  });

  it('fault ignore-atc-timeout: the range is treated as clean, the ATC stays stale, the reused IOVA goes to the old memory', () => {
    const s = driverScene('ignore-atc-timeout');
    s.drv.dmaUnmap(s.d, s.b);
    expect(s.drv.counters.atcTimeouts).toBe(1);
    expect(s.drv.counters.quarantines).toBe(0);
    expect(s.drv.stale.count).toBeGreaterThan(0);
    expect(s.drv.stale.byCache.ATC).toBe(s.drv.stale.count);
    const again = reuse(s);
    s.drv.dmaAccess(s.m, 0, again, s.rng, 8);
    expect(s.drv.counters.wrongTranslations).toBeGreaterThan(0);
  });

  it('clean twin: the same fault setting with an endpoint that answers is clean and quarantines nothing', () => {
    const s = driverScene('ignore-atc-timeout', 0);
    s.drv.dmaUnmap(s.d, s.b);
    expect(s.drv.counters.atcTimeouts).toBe(0);
    expect(s.drv.stale.count).toBe(0);
    const again = reuse(s);
    s.drv.dmaAccess(s.m, 0, again, s.rng, 8);
    expect(s.drv.counters.wrongTranslations).toBe(0);
  });

  it('two timeouts behind one SYNC make it fail twice (acknowledged twice), one quarantine for the master', () => {
    const drv = new Driver({ smmus: [DEFAULT_SMMU_SPEC], granule: 4096, seed: 5 });
    const d = drv.createDomain('s1', 'tlbi');
    const m = drv.addMaster(0, [1, 2], true);
    drv.attach(m, d);
    const b = drv.dmaMap(d, 4 * 4096)!;
    const rng = new Rng(2);
    for (let i = 0; i < 8; i++) drv.dmaAccess(m, 0, b, rng, 4);
    const model = drv.port(0).model;
    model.setEndpointTimeouts(1, 1);
    model.setEndpointTimeouts(2, 1);
    drv.dmaUnmap(d, b);
    expect(model.endpoints.timedOut).toBe(2);
    expect(drv.port(0).atcSyncErrors).toBe(2);
    expect(drv.counters.atcTimeouts).toBe(1);
    expect(drv.counters.quarantines).toBe(1);
    expect(drv.stale.count).toBe(0);
    expect(drv.checkEverything()).toBe(0);
  });

  it('the ATC flush of a detach that times out quarantines the device; it stays detached (STE abort)', () => {
    const s = driverScene();
    s.drv.detach(s.m);
    expect(s.drv.counters.atcTimeouts).toBe(1);
    expect(s.drv.counters.quarantines).toBe(1);
    expect(s.drv.stale.count).toBe(0);
    expect(s.model.streams.get(1)).toBeUndefined();
    expect(s.model.atc.size).toBe(0);
    expect(s.drv.checkEverything()).toBe(0);
  });

  it('fault ignore-atc-timeout on that detach: the left-over ATC entries are reported', () => {
    const s = driverScene('ignore-atc-timeout');
    s.drv.detach(s.m);
    expect(s.drv.counters.quarantines).toBe(0);
    expect(s.drv.stale.byCache.ATC).toBeGreaterThan(0);
  });

  it('a never-answering endpoint: the reset of the quarantine makes it answer again', () => {
    const s = driverScene(undefined, Infinity);
    s.drv.dmaUnmap(s.d, s.b);
    expect(s.drv.counters.quarantines).toBe(1);
    expect(s.model.endpoints.timeoutsLeft(1)).toBe(0);
    const b2 = s.drv.dmaMap(s.d, 4 * 4096)!;
    s.drv.dmaAccess(s.m, 0, b2, s.rng, 4);
    s.drv.dmaUnmap(s.d, b2);
    expect(s.drv.counters.atcTimeouts).toBe(1);
    expect(s.drv.stale.count).toBe(0);
  });
});

const PBASE = 0x8000_0000;
const G = 4096;

function hypScene(fault?: FaultName, timeouts = 1) {
  const h = new Hypervisor({
    smmus: [DEFAULT_SMMU_SPEC],
    granule: G,
    policy: 'tlbi',
    seed: 4,
    injection: faultInjection(fault),
    pagedRam: { base: PBASE, size: 64 * G },
    blockRam: { base: 0x1_0000_0000, size: 0 },
    hostDevices: [
      { smmu: 0, sid: 1, ats: true },
      { smmu: 0, sid: 2, ats: false },
    ],
  });
  // Host DMA fills TLB and the ATS device's ATC over the pages about to be donated.
  for (let i = 0; i < 8; i++) h.port(0).model.translate(1, 0, PBASE + i * G, true);
  h.hostTouch(PBASE, 8 * G);
  expect(h.port(0).model.atc.size).toBe(8);
  h.port(0).model.setEndpointTimeouts(1, timeouts);
  return h;
}

describe('pKVM: CERROR_ATC_INV_SYNC while donating host pages', () => {
  it('the host device is quarantined before the donation returns: isolation holds', () => {
    const h = hypScene();
    h.donate(PBASE, 8 * G);
    expect(h.counters.atcTimeouts).toBe(1);
    expect(h.counters.quarantines).toBe(1);
    expect(h.port(0).atcSyncErrors).toBe(1);
    expect(h.checkIsolation(PBASE, 8 * G)).toBe(0);
    expect(h.stale.count).toBe(0);
    expect(h.checkEverything()).toBe(0);
    // The shadow STE is back: the device still reaches host RAM, and not the donated pages.
    expect(h.hostAccess(0, 1, PBASE + 20 * G, PBASE + 20 * G, true)).toBe(true);
    expect(h.hostAccess(0, 1, PBASE + 2 * G, PBASE + 2 * G, false)).toBe(true); // faults: owner is hyp
    expect(h.counters.hostViolations).toBe(0);
  });

  it('fault ignore-atc-timeout: the host ATC still reaches the donated pages', () => {
    const h = hypScene('ignore-atc-timeout');
    h.donate(PBASE, 8 * G);
    expect(h.counters.atcTimeouts).toBe(1);
    expect(h.counters.quarantines).toBe(0);
    expect(h.checkIsolation(PBASE, 8 * G)).toBeGreaterThan(0);
    expect(h.stale.count).toBeGreaterThan(0);
    expect(h.hostAccess(0, 1, PBASE + 2 * G, PBASE + 2 * G, false)).toBe(false); // reached a donated page
  });

  it('clean twin: the same donation with an answering endpoint (fault set) is isolated', () => {
    const h = hypScene('ignore-atc-timeout', 0);
    h.donate(PBASE, 8 * G);
    expect(h.counters.atcTimeouts).toBe(0);
    expect(h.checkIsolation(PBASE, 8 * G)).toBe(0);
    expect(h.stale.count).toBe(0);
  });

  it("a timeout of the host's own ATC_INV (through the filter) quarantines the device too", () => {
    const h = hypScene();
    const u32 = new Uint32Array(8);
    u32.set(encodeHalves(makeCommand('ATC_INV', { sid: 1, size: 52 })), 0);
    u32.set(encodeHalves(makeCommand('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 })), 4);
    h.hostSubmit(0, u32, 2);
    expect(h.counters.quarantines).toBe(1);
    expect(h.port(0).model.atc.size).toBe(0);
    expect(h.checkEverything()).toBe(0);
  });
});

describe('scenarios with endpoints that time out (atsTimeouts)', () => {
  const base = (fault: FaultName | null, policy: 'linux' | 'tlbi'): ScenarioOptions => ({
    granule: 4096,
    ril: true,
    ats: true,
    seed: 3,
    policy,
    fault,
    ops: 200,
    atsTimeouts: 0.1,
  });
  for (const policy of ['linux', 'tlbi'] as const) {
    it(`driver (${policy}): timeouts happen and are quarantined cleanly; ignore-atc-timeout is caught`, () => {
      const clean = runDriverScenario(base(null, policy));
      expect(clean.operations.atcTimeouts).toBeGreaterThan(0);
      expect(clean.operations.quarantines).toBeGreaterThan(0);
      expect(clean.stale).toBe(0);
      expect(Object.values(clean.violations).every((v) => v === 0)).toBe(true);
      const broken = runDriverScenario(base('ignore-atc-timeout', policy));
      expect(broken.operations.atcTimeouts).toBeGreaterThan(0);
      expect(broken.stale).toBeGreaterThan(0);
      expect(broken.staleByCache.ATC).toBeGreaterThan(0);
    });
    it(`pkvm (${policy}): the same`, () => {
      const clean = runPkvmScenario(base(null, policy));
      expect(clean.operations.atcTimeouts).toBeGreaterThan(0);
      expect(clean.stale).toBe(0);
      expect(Object.values(clean.violations).every((v) => v === 0)).toBe(true);
      const broken = runPkvmScenario(base('ignore-atc-timeout', policy));
      expect(broken.stale + (broken.violations.isolationViolations ?? 0)).toBeGreaterThan(0);
    });
    it(`nested (${policy}): the nested devices' and the host device's endpoints time out; the same`, () => {
      const clean = runNestedScenario(base(null, policy));
      expect(clean.operations.atcTimeouts).toBeGreaterThan(0);
      expect(clean.operations.quarantines).toBe(clean.operations.atcTimeouts);
      expect(clean.stale).toBe(0);
      expect(Object.values(clean.violations).every((v) => v === 0)).toBe(true);
      const broken = runNestedScenario(base('ignore-atc-timeout', policy));
      expect(broken.operations.atcTimeouts).toBeGreaterThan(0);
      expect(broken.operations.quarantines).toBe(0);
      expect(broken.stale).toBeGreaterThan(0);
      expect(broken.staleByCache.ATC).toBeGreaterThan(0);
    });
  }
});

describe('simulate --fault ignore-atc-timeout reaches the fault by itself', () => {
  it('picks the driver scenario with ATS endpoint timeouts and exits 1; the clean twin exits 0', () => {
    const broken = runCliFromSource(['simulate', '--fault', 'ignore-atc-timeout', '--seed', '1', '--json']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/--scenario driver, --ats-timeouts 0\.05/);
    const doc = JSON.parse(broken.stdout) as {
      config: { atsTimeouts: number };
      stale: number;
      operations: Record<string, number>;
    };
    expect(doc.config.atsTimeouts).toBe(0.05);
    expect(doc.operations.atcTimeouts).toBeGreaterThan(0);
    expect(doc.stale).toBeGreaterThan(0);
    const clean = runCliFromSource([
      'simulate',
      '--scenario',
      'driver',
      '--ats-timeouts',
      '0.05',
      '--seed',
      '1',
      '--json',
    ]);
    expect(clean.code).toBe(0);
    const cdoc = JSON.parse(clean.stdout) as { stale: number; operations: Record<string, number> };
    expect(cdoc.operations.quarantines).toBeGreaterThan(0);
    expect(cdoc.stale).toBe(0);
  });

  it('with --scenario nested: the nested world with timeouts exits 1; its clean twin exits 0', () => {
    const broken = runCliFromSource(['simulate', '--scenario', 'nested', '--fault', 'ignore-atc-timeout', '--json']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/--ats-timeouts 0\.05/);
    const doc = JSON.parse(broken.stdout) as { stale: number; operations: Record<string, number> };
    expect(doc.operations.atcTimeouts).toBeGreaterThan(0);
    expect(doc.stale).toBeGreaterThan(0);
    const clean = runCliFromSource(['simulate', '--scenario', 'nested', '--ats-timeouts', '0.05', '--json']);
    expect(clean.code).toBe(0);
    const cdoc = JSON.parse(clean.stdout) as { stale: number; operations: Record<string, number> };
    expect(cdoc.operations.quarantines).toBe(cdoc.operations.atcTimeouts);
    expect(cdoc.operations.atcTimeouts).toBeGreaterThan(0);
    expect(cdoc.stale).toBe(0);
  });

  it('usage errors name the option (exit 2, one line)', () => {
    for (const args of [
      ['simulate', '--ats-timeouts', '0.1'],
      ['simulate', '--scenario', 'driver', '--ats', 'off', '--ats-timeouts', '0.1'],
      ['simulate', '--scenario', 'driver', '--ats-timeouts', '1.5'],
    ]) {
      const r = runCliFromSource(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')[0], args.join(' ')).toMatch(/--ats-timeouts|--scenario|--fault/);
      expect(r.stdout).toBe('');
    }
  });
});
