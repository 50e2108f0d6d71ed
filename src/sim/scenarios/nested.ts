/**
 * Scenario `nested`: a guest behind two vSMMUs (one per SMMU, each with its own VMID) whose stage 2 is a
 * nesting parent. Guest stage-1 domains map and unmap DMA buffers (invalidated through their S1_ASID targets
 * tagged with the vSMMU's VMID, and ATS); the VMM migrates guest RAM chunks (stage-2 changes, invalidated
 * through the parent's S2_VMID + S2_VMID_S1_CLEAR per vSMMU and ATS_FULL per nested device) and moves the
 * pages holding guest tables (copy, remap in stage 2, scrub the old frame: option `nestedVmm`); nested devices
 * move between guest domains, detach and come back (the last one leaving a vSMMU flushes its VMID); a host
 * stage-2 domain shares the first SMMU.
 */
import { LAYOUT, type DmaBuffer, type Domain, type Master, type VSmmu } from '../../consumers/driver.js';
import { Rng } from '../../smmu/rng.js';
import { driverRun, now, scenarioDriver, type ScenarioOptions, type ScenarioRun } from './common.js';

export const NESTED_DEFAULT_OPS = 300;

interface Guest {
  d: Domain;
  bufs: DmaBuffer[];
}

export function runNestedScenario(o: ScenarioOptions): ScenarioRun {
  const t0 = now();
  const rng = new Rng(o.seed);
  const drv = scenarioDriver(o, [
    { ril: o.ril, ats: o.ats, e2h: false, forceSync: false, queueLog2Size: 8 },
    { ril: o.ril, ats: o.ats, e2h: false, forceSync: true, queueLog2Size: 6 },
  ]);
  const parent = drv.createNestingParent(o.policy);
  const vs: VSmmu[] = [drv.createVSmmu(parent, 0), drv.createVSmmu(parent, 1)];
  const guests: Guest[][] = vs.map((v) => [
    { d: drv.createGuestDomain(v, o.policy), bufs: [] },
    { d: drv.createGuestDomain(v, o.policy), bufs: [] },
  ]);
  const nested: Master[][] = [
    [drv.addMaster(0, [8], o.ats), drv.addMaster(0, [9], false)],
    [drv.addMaster(1, [8, 9], o.ats), drv.addMaster(1, [10], false)],
  ];
  // A host stage-2 domain beside the guest on SMMU 0.
  const host = drv.createDomain('s2', o.policy);
  const hostMaster = drv.addMaster(0, [1], o.ats);
  drv.attach(hostMaster, host);
  const hostBufs: DmaBuffer[] = [];
  let migrations = 0;

  const vmm = o.nestedVmm ?? 'both';
  let tableMoves = 0;
  /** The VMM moves the page of one table on the walk of a live buffer of `g` (after its pages were used). */
  const moveTablePage = (g: Guest): boolean => {
    if (g.bufs.length === 0) return false;
    const b = rng.pick(g.bufs);
    for (const ms of nested) for (const m of ms) if (m.rid === g.d) drv.dmaAccess(m, 0, b, rng, 2);
    const steps = g.d.table.walk(b.iova).steps;
    return drv.moveGuestTablePage(parent, rng.pick(steps).tablePa);
  };
  const guestOf = (m: Master): Guest | undefined => {
    for (const gs of guests) for (const g of gs) if (m.rid === g.d) return g;
    return undefined;
  };
  const mapGuest = (g: Guest): void => {
    const b = drv.dmaMap(g.d, o.granule * (1 + rng.below(6)));
    if (b === null) return;
    g.bufs.push(b);
    for (const ms of nested) for (const m of ms) if (m.rid === g.d) drv.dmaAccess(m, 0, b, rng, 3);
  };

  for (let i = 0; i < vs.length; i++) for (const m of nested[i]!) drv.attach(m, guests[i]![rng.below(2)]!.d);
  for (const gs of guests) for (const g of gs) for (let k = 0; k < 4; k++) mapGuest(g);
  for (let k = 0; k < 3; k++) {
    const b = drv.dmaMap(host, o.granule * (1 + rng.below(8)));
    if (b !== null) hostBufs.push(b);
  }

  const ops = o.ops ?? NESTED_DEFAULT_OPS;
  const chunks = parent.guest!.chunks.length;
  for (let op = 0; op < ops; op++) {
    const r = rng.float();
    const vi = rng.below(vs.length);
    const g = guests[vi]![rng.below(2)]!;
    if (r < 0.25) mapGuest(g);
    else if (r < 0.45) {
      if (g.bufs.length > 0) drv.dmaUnmap(g.d, g.bufs.splice(rng.below(g.bufs.length), 1)[0]!);
    } else if (r < 0.6) {
      if (vmm === 'ram' || (vmm === 'both' && rng.chance(0.5))) {
        // Mostly chunks that hold live guest buffers (their translations are cached), sometimes any.
        const live = guests.flat().flatMap((x) => x.bufs);
        const chunk =
          live.length > 0 && rng.chance(0.8)
            ? Math.floor((rng.pick(live).pa - LAYOUT.guestRamIpa) / LAYOUT.guestChunk)
            : rng.below(chunks);
        drv.migrateGuestChunk(parent, chunk);
        migrations++;
      } else if (moveTablePage(g)) tableMoves++;
    } else if (r < 0.75) {
      const m = rng.pick(nested[vi]!);
      const mg = guestOf(m);
      if (mg !== undefined && mg.bufs.length > 0) drv.dmaAccess(m, 0, rng.pick(mg.bufs), rng, 4);
    } else if (r < 0.85) drv.attach(rng.pick(nested[vi]!), g.d);
    else if (r < 0.9) {
      const m = rng.pick(nested[vi]!);
      if (m.rid !== null) drv.detach(m);
      else drv.attach(m, g.d);
    } else if (r < 0.96) {
      if (hostBufs.length > 0 && rng.chance(0.5))
        drv.dmaUnmap(host, hostBufs.splice(rng.below(hostBufs.length), 1)[0]!);
      else {
        const b = drv.dmaMap(host, o.granule * (1 + rng.below(8)));
        if (b !== null) {
          hostBufs.push(b);
          drv.dmaAccess(hostMaster, 0, b, rng, 3);
        }
      }
    } else drv.checkEverything();
  }
  drv.checkEverything();

  const elapsedMs = now() - t0;
  const c = drv.counters;
  const operations = {
    maps: c.maps,
    unmaps: c.unmaps,
    guestRamMigrations: migrations,
    guestTableMoves: tableMoves,
    attaches: c.attaches,
    detaches: c.detaches,
    iotlbSyncs: c.iotlbSyncs,
    tagFlushes: c.tagFlushes,
    atcFlushes: c.atcFlushes,
    dmaAccesses: c.dmaAccesses,
  };
  return driverRun(drv, o.policy, operations, elapsedMs);
}
