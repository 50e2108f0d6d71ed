/**
 * Scenario `driver`: the kernel-driver domain layer on three SMMUs — one plain, one with the MMU-700
 * force-sync erratum and a small command queue, one running E2H without ATS — with stage-1 and stage-2
 * domains in strict and lazy mode, ATS and non-ATS masters, PASIDs, and churn: DMA map / unmap (pages,
 * blocks, and page-backed blocks whose unmap frees tables), device accesses, attach / move / detach, PASID
 * attach / detach, and domains freed and re-created (their ASIDs / VMIDs reused). The checker runs after
 * every completed invalidation and over every cache periodically and at the end.
 */
import type { DmaBuffer, Domain, FlushMode, Master } from '../../consumers/driver.js';
import { Rng } from '../../smmu/rng.js';
import {
  atsTimeoutArmer,
  blockSize,
  driverRun,
  now,
  scenarioDriver,
  type ScenarioOptions,
  type ScenarioRun,
} from './common.js';

export const DRIVER_DEFAULT_OPS = 400;

interface Slot {
  kind: 's1' | 's2';
  mode: FlushMode;
  d: Domain;
  bufs: DmaBuffer[];
}

export function runDriverScenario(o: ScenarioOptions): ScenarioRun {
  const t0 = now();
  const rng = new Rng(o.seed);
  const drv = scenarioDriver(
    o,
    [
      { ril: o.ril, ats: o.ats, e2h: false, forceSync: false, queueLog2Size: 8 },
      { ril: o.ril, ats: o.ats, e2h: false, forceSync: true, queueLog2Size: 5 },
      { ril: o.ril, ats: false, e2h: true, forceSync: false, queueLog2Size: 6 },
    ],
    { flushQueueDepth: 6 },
  );
  const masters: Master[] = [
    drv.addMaster(0, [1, 2], o.ats),
    drv.addMaster(0, [3], false),
    drv.addMaster(0, [4], o.ats),
    drv.addMaster(1, [1], o.ats),
    drv.addMaster(1, [2], false),
    drv.addMaster(2, [1], false),
    drv.addMaster(2, [2, 3], false),
  ];
  const shapes: { kind: 's1' | 's2'; mode: FlushMode }[] = [
    { kind: 's1', mode: 'strict' },
    { kind: 's1', mode: 'strict' },
    { kind: 's1', mode: 'lazy' },
    { kind: 's2', mode: 'strict' },
    { kind: 's2', mode: 'lazy' },
  ];
  const slots: Slot[] = shapes.map((s) => ({ ...s, d: drv.createDomain(s.kind, o.policy, s.mode), bufs: [] }));
  const slotOf = (d: Domain): Slot => slots.find((s) => s.d === d)!;
  const block = blockSize(o.granule);
  let domainsRecreated = 0;
  let pasidAttaches = 0;

  const attachedTo = (d: Domain): { m: Master; pasid: number }[] => {
    const r: { m: Master; pasid: number }[] = [];
    for (const m of masters) {
      if (m.rid === d) r.push({ m, pasid: 0 });
      for (const [p, pd] of m.pasids) if (pd === d) r.push({ m, pasid: p });
    }
    return r;
  };

  const touch = (s: Slot, b: DmaBuffer): void => {
    const users = attachedTo(s.d);
    if (users.length === 0) return;
    const u = rng.pick(users);
    drv.dmaAccess(u.m, u.pasid, b, rng, 4);
  };

  const map = (s: Slot): void => {
    const r = rng.float();
    let size = o.granule * (1 + rng.below(16));
    let pagesOnly = false;
    if (r < 0.06) size = block;
    else if (r < 0.1 && o.granule === 4096) {
      size = block;
      pagesOnly = true;
    }
    const b = drv.dmaMap(s.d, size, undefined, pagesOnly);
    if (b === null) return;
    s.bufs.push(b);
    touch(s, b);
  };

  const unmap = (s: Slot): void => {
    if (s.bufs.length === 0) return;
    if (s.mode === 'strict' && s.bufs.length > 2 && rng.chance(0.3)) {
      // A batch: several unmaps gathered, one sync.
      const n = 2 + rng.below(2);
      for (let i = 0; i < n; i++) {
        const b = s.bufs.splice(rng.below(s.bufs.length), 1)[0]!;
        drv.dmaUnmap(s.d, b, false);
      }
      drv.iotlbSync(s.d);
      return;
    }
    const b = s.bufs.splice(rng.below(s.bufs.length), 1)[0]!;
    drv.dmaUnmap(s.d, b);
  };

  const attachRandom = (m: Master): void => {
    const choices = slots.filter((s) => s.kind === 's1' || m.pasids.size === 0);
    drv.attach(m, rng.pick(choices).d);
  };

  for (const m of masters) attachRandom(m);
  for (const s of slots) for (let i = 0; i < 4; i++) map(s);

  const armTimeout = atsTimeoutArmer(
    o.atsTimeouts,
    o.seed,
    masters.filter((m) => m.ats).flatMap((m) => m.sids.map((sid) => ({ model: drv.port(m.smmu).model, sid }))),
  );
  const ops = o.ops ?? 400;
  for (let op = 0; op < ops; op++) {
    armTimeout();
    const r = rng.float();
    if (r < 0.3) map(rng.pick(slots));
    else if (r < 0.55) unmap(rng.pick(slots));
    else if (r < 0.68) {
      const m = rng.pick(masters);
      const pasids = [...m.pasids.keys()];
      const pasid = pasids.length > 0 && rng.chance(0.4) ? rng.pick(pasids) : 0;
      const d = pasid === 0 ? m.rid : m.pasids.get(pasid)!;
      if (d !== null) {
        const s = slotOf(d);
        if (s.bufs.length > 0) drv.dmaAccess(m, pasid, rng.pick(s.bufs), rng, 4);
      }
    } else if (r < 0.78) attachRandom(rng.pick(masters));
    else if (r < 0.83) {
      const m = rng.pick(masters);
      const pasids = [...m.pasids.keys()];
      if (pasids.length > 0 && rng.chance(0.5)) drv.detach(m, rng.pick(pasids));
      else drv.detach(m);
    } else if (r < 0.88) {
      const m = rng.pick(masters);
      if (m.rid === null || m.rid.kind === 's1') {
        const s1 = slots.filter((s) => s.kind === 's1');
        drv.attach(m, rng.pick(s1).d, 1 + rng.below(3));
        pasidAttaches++;
      }
    } else if (r < 0.92) {
      // Domain churn: everyone leaves, the domain is freed, a new one takes its tag.
      const s = rng.pick(slots);
      const users = attachedTo(s.d);
      for (const u of users) drv.detach(u.m, u.pasid);
      drv.freeDomain(s.d);
      s.d = drv.createDomain(s.kind, o.policy, s.mode);
      s.bufs = [];
      domainsRecreated++;
      for (const u of users) if (u.pasid === 0 || s.kind === 's1') drv.attach(u.m, s.d, u.pasid);
      for (let i = 0; i < 3; i++) map(s);
    } else if (r < 0.96) {
      const lazy = slots.filter((s) => s.mode === 'lazy');
      drv.flushQueue(rng.pick(lazy).d);
    } else drv.checkEverything();
  }
  drv.checkEverything();

  const elapsedMs = now() - t0;
  const c = drv.counters;
  const operations = {
    maps: c.maps,
    unmaps: c.unmaps,
    attaches: c.attaches,
    detaches: c.detaches,
    pasidAttaches,
    domainsRecreated,
    iotlbSyncs: c.iotlbSyncs,
    queueFlushes: c.queueFlushes,
    tagFlushes: c.tagFlushes,
    atcFlushes: c.atcFlushes,
    dmaAccesses: c.dmaAccesses,
    ...((o.atsTimeouts ?? 0) > 0 ? { atcTimeouts: c.atcTimeouts, quarantines: c.quarantines } : {}),
  };
  return driverRun(drv, o.policy, operations, elapsedMs);
}
