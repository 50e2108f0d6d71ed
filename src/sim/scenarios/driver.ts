/**
 * Scenario `driver`: the kernel-driver domain layer on three SMMUs — one plain, one with the MMU-700
 * force-sync erratum and a small command queue, one running E2H without ATS — with stage-1 and stage-2
 * domains in strict and lazy mode, ATS and non-ATS masters, PASIDs, and churn: DMA map / unmap (pages,
 * blocks, and page-backed blocks whose unmap frees tables), device accesses, attach / move / detach, PASID
 * attach / detach, and domains freed and re-created (their ASIDs / VMIDs reused). The checker runs after
 * every completed invalidation and over every cache periodically and at the end.
 */
import type { DmaBuffer, Domain, Driver, FlushMode, Master } from '../../consumers/driver.js';
import { Rng } from '../../smmu/rng.js';
import {
  atsTimeoutArmer,
  atsTimeoutOperations,
  driverAtsEndpoints,
  blockSize,
  driverRun,
  now,
  scenarioDriver,
  scenarioSmmu,
  loopStepper,
  runToEnd,
  type ScenarioOptions,
  type ScenarioRun,
  type ScenarioStepper,
} from './common.js';

export const DRIVER_DEFAULT_OPS = 400;

interface Slot {
  kind: 's1' | 's2';
  mode: FlushMode;
  d: Domain;
  bufs: DmaBuffer[];
}

/** The scenario's state: the driver, its masters, the domain slots and the scenario's own counts. */
interface DriverWorld {
  readonly o: ScenarioOptions;
  readonly rng: Rng;
  readonly drv: Driver;
  readonly masters: readonly Master[];
  readonly slots: Slot[];
  /** The level-2 block size of the granule. */
  readonly block: number;
  domainsRecreated: number;
  pasidAttaches: number;
}

const SHAPES: readonly { kind: 's1' | 's2'; mode: FlushMode }[] = [
  { kind: 's1', mode: 'strict' },
  { kind: 's1', mode: 'strict' },
  { kind: 's1', mode: 'lazy' },
  { kind: 's2', mode: 'strict' },
  { kind: 's2', mode: 'lazy' },
];

/** Three SMMUs (plain; force-sync erratum with a 32-entry queue; E2H without ATS), 7 masters, 5 domains. */
function setUpDriverWorld(o: ScenarioOptions): DriverWorld {
  const rng = new Rng(o.seed);
  const drv = scenarioDriver(
    o,
    [
      scenarioSmmu(o, { forceSync: false, queueLog2Size: 8 }),
      scenarioSmmu(o, { forceSync: true, queueLog2Size: 5 }),
      scenarioSmmu(o, { ats: false, e2h: true, queueLog2Size: 6 }),
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
  const slots: Slot[] = SHAPES.map((s) => ({ ...s, d: drv.createDomain(s.kind, o.policy, s.mode), bufs: [] }));
  return { o, rng, drv, masters, slots, block: blockSize(o.granule), domainsRecreated: 0, pasidAttaches: 0 };
}

/** The masters (and PASIDs) attached to a domain. */
function attachedTo(w: DriverWorld, d: Domain): { m: Master; pasid: number }[] {
  const r: { m: Master; pasid: number }[] = [];
  for (const m of w.masters) {
    if (m.rid === d) r.push({ m, pasid: 0 });
    for (const [p, pd] of m.pasids) if (pd === d) r.push({ m, pasid: p });
  }
  return r;
}

/** One of the domain's devices touches the buffer (its translations get cached). */
function touch(w: DriverWorld, s: Slot, b: DmaBuffer): void {
  const users = attachedTo(w, s.d);
  if (users.length === 0) return;
  const u = w.rng.pick(users);
  w.drv.dmaAccess(u.m, u.pasid, b, w.rng, 4);
}

/** A DMA map into the slot: pages, sometimes a block, sometimes a block backed by pages (4K only). */
function mapInto(w: DriverWorld, s: Slot): void {
  const { o, rng } = w;
  const r = rng.float();
  let size = o.granule * (1 + rng.below(16));
  let pagesOnly = false;
  if (r < 0.06) size = w.block;
  else if (r < 0.1 && o.granule === 4096) {
    size = w.block;
    pagesOnly = true;
  }
  const b = w.drv.dmaMap(s.d, size, undefined, pagesOnly);
  if (b === null) return;
  s.bufs.push(b);
  touch(w, s, b);
}

/** A DMA unmap from the slot; in strict mode sometimes a batch of several gathered under one sync. */
function unmapFrom(w: DriverWorld, s: Slot): void {
  const { rng, drv } = w;
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
}

/** Attach (or move) a master to a random domain it may use. */
function attachRandom(w: DriverWorld, m: Master): void {
  const choices = w.slots.filter((s) => s.kind === 's1' || m.pasids.size === 0);
  w.drv.attach(m, w.rng.pick(choices).d);
}

/** A device access to one of its domain's live buffers (at its RID or one of its PASIDs). */
function deviceAccess(w: DriverWorld): void {
  const { rng } = w;
  const m = rng.pick(w.masters);
  const pasids = [...m.pasids.keys()];
  const pasid = pasids.length > 0 && rng.chance(0.4) ? rng.pick(pasids) : 0;
  const d = pasid === 0 ? m.rid : m.pasids.get(pasid)!;
  if (d === null) return;
  const s = w.slots.find((x) => x.d === d)!;
  if (s.bufs.length > 0) w.drv.dmaAccess(m, pasid, rng.pick(s.bufs), rng, 4);
}

/** Detach a master, or one of its PASIDs. */
function detachRandom(w: DriverWorld): void {
  const m = w.rng.pick(w.masters);
  const pasids = [...m.pasids.keys()];
  if (pasids.length > 0 && w.rng.chance(0.5)) w.drv.detach(m, w.rng.pick(pasids));
  else w.drv.detach(m);
}

/** Attach a stage-1 domain to a PASID of a master whose RID domain (if any) is stage 1. */
function attachPasid(w: DriverWorld): void {
  const m = w.rng.pick(w.masters);
  if (m.rid !== null && m.rid.kind !== 's1') return;
  const s1 = w.slots.filter((s) => s.kind === 's1');
  w.drv.attach(m, w.rng.pick(s1).d, 1 + w.rng.below(3));
  w.pasidAttaches++;
}

/** Domain churn: everyone leaves, the domain is freed, a new one takes its tag, its users come back. */
function recreateDomain(w: DriverWorld): void {
  const { drv } = w;
  const s = w.rng.pick(w.slots);
  const users = attachedTo(w, s.d);
  for (const u of users) drv.detach(u.m, u.pasid);
  drv.freeDomain(s.d);
  s.d = drv.createDomain(s.kind, w.o.policy, s.mode);
  s.bufs = [];
  w.domainsRecreated++;
  for (const u of users) if (u.pasid === 0 || s.kind === 's1') drv.attach(u.m, s.d, u.pasid);
  for (let i = 0; i < 3; i++) mapInto(w, s);
}

/** One main-loop operation, chosen by one draw. */
function driverStep(w: DriverWorld): void {
  const { rng, drv, slots } = w;
  const r = rng.float();
  if (r < 0.3) mapInto(w, rng.pick(slots));
  else if (r < 0.55) unmapFrom(w, rng.pick(slots));
  else if (r < 0.68) deviceAccess(w);
  else if (r < 0.78) attachRandom(w, rng.pick(w.masters));
  else if (r < 0.83) detachRandom(w);
  else if (r < 0.88) attachPasid(w);
  else if (r < 0.92) recreateDomain(w);
  else if (r < 0.96) {
    const lazy = slots.filter((s) => s.mode === 'lazy');
    drv.flushQueue(rng.pick(lazy).d);
  } else drv.checkEverything();
}

/** The operations the report lists, from the driver's counters and the scenario's own counts. */
function driverOperations(w: DriverWorld): Record<string, number> {
  const c = w.drv.counters;
  return {
    maps: c.maps,
    unmaps: c.unmaps,
    attaches: c.attaches,
    detaches: c.detaches,
    pasidAttaches: w.pasidAttaches,
    domainsRecreated: w.domainsRecreated,
    iotlbSyncs: c.iotlbSyncs,
    queueFlushes: c.queueFlushes,
    tagFlushes: c.tagFlushes,
    atcFlushes: c.atcFlushes,
    dmaAccesses: c.dmaAccesses,
    ...atsTimeoutOperations(w.o, c),
  };
}

/** The driver scenario as a stepper (set up on creation; see ScenarioStepper). */
export function startDriverScenario(o: ScenarioOptions): ScenarioStepper {
  const t0 = now();
  const w = setUpDriverWorld(o);
  const { drv } = w;
  for (const m of w.masters) attachRandom(w, m);
  for (const s of w.slots) for (let i = 0; i < 4; i++) mapInto(w, s);
  const armTimeout = atsTimeoutArmer(o.atsTimeouts, o.seed, driverAtsEndpoints(drv, w.masters));
  return loopStepper(
    o.ops ?? DRIVER_DEFAULT_OPS,
    () => {
      armTimeout();
      driverStep(w);
    },
    () => {
      drv.checkEverything();
      return driverRun(drv, o.policy, driverOperations(w), now() - t0);
    },
  );
}

export function runDriverScenario(o: ScenarioOptions): ScenarioRun {
  return runToEnd(startDriverScenario(o));
}
