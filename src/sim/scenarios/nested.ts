/**
 * Scenario `nested`: a guest behind two vSMMUs (one per SMMU, each with its own VMID) whose stage 2 is a
 * nesting parent. Guest stage-1 domains map and unmap DMA buffers (invalidated through their S1_ASID targets
 * tagged with the vSMMU's VMID, and ATS); the VMM migrates guest RAM chunks (stage-2 changes, invalidated
 * through the parent's S2_VMID + S2_VMID_S1_CLEAR per vSMMU and ATS_FULL per nested device) and moves the
 * pages holding guest tables (copy, remap in stage 2, scrub the old frame: option `nestedVmm`); nested devices
 * move between guest domains, detach and come back (the last one leaving a vSMMU flushes its VMID); a host
 * stage-2 domain shares the first SMMU.
 */
import { LAYOUT, type DmaBuffer, type Domain, type Driver, type Master, type VSmmu } from '../../consumers/driver.js';
import { Rng } from '../../smmu/rng.js';
import {
  atsTimeoutArmer,
  atsTimeoutOperations,
  driverAtsEndpoints,
  driverRun,
  now,
  scenarioDriver,
  scenarioSmmu,
  type NestedVmmChanges,
  loopStepper,
  runToEnd,
  type ScenarioOptions,
  type ScenarioRun,
  type ScenarioStepper,
} from './common.js';

export const NESTED_DEFAULT_OPS = 300;

interface Guest {
  d: Domain;
  bufs: DmaBuffer[];
}

/** The scenario's state: the nesting parent, its vSMMUs and guests, the nested and host devices. */
interface NestedWorld {
  readonly o: ScenarioOptions;
  readonly rng: Rng;
  readonly drv: Driver;
  readonly parent: Domain;
  readonly vs: readonly VSmmu[];
  /** Two guest stage-1 domains per vSMMU. */
  readonly guests: readonly (readonly Guest[])[];
  /** The nested devices behind each vSMMU. */
  readonly nested: readonly (readonly Master[])[];
  readonly host: Domain;
  readonly hostMaster: Master;
  readonly hostBufs: DmaBuffer[];
  readonly vmm: NestedVmmChanges;
  migrations: number;
  tableMoves: number;
}

/** Two SMMUs (plain; force-sync erratum), a vSMMU on each over one nesting parent, and a host stage-2 domain. */
function setUpNestedWorld(o: ScenarioOptions): NestedWorld {
  const rng = new Rng(o.seed);
  const drv = scenarioDriver(o, [
    scenarioSmmu(o, { forceSync: false, queueLog2Size: 8 }),
    scenarioSmmu(o, { forceSync: true, queueLog2Size: 6 }),
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
  const vmm = o.nestedVmm ?? 'both';
  return { o, rng, drv, parent, vs, guests, nested, host, hostMaster, hostBufs: [], vmm, migrations: 0, tableMoves: 0 };
}

/** The VMM moves the page of one table on the walk of a live buffer of `g` (after its pages were used). */
function moveTablePage(w: NestedWorld, g: Guest): boolean {
  if (g.bufs.length === 0) return false;
  const b = w.rng.pick(g.bufs);
  for (const ms of w.nested) for (const m of ms) if (m.rid === g.d) w.drv.dmaAccess(m, 0, b, w.rng, 2);
  const steps = g.d.table.walk(b.iova).steps;
  return w.drv.moveGuestTablePage(w.parent, w.rng.pick(steps).tablePa);
}

/** The guest domain a nested device is attached to. */
function guestOf(w: NestedWorld, m: Master): Guest | undefined {
  for (const gs of w.guests) for (const g of gs) if (m.rid === g.d) return g;
  return undefined;
}

/** The guest maps a DMA buffer; its devices use it. */
function mapGuest(w: NestedWorld, g: Guest): void {
  const b = w.drv.dmaMap(g.d, w.o.granule * (1 + w.rng.below(6)));
  if (b === null) return;
  g.bufs.push(b);
  for (const ms of w.nested) for (const m of ms) if (m.rid === g.d) w.drv.dmaAccess(m, 0, b, w.rng, 3);
}

/** The nested devices attach, the guests map buffers, the host maps three. */
function startNested(w: NestedWorld): void {
  const { drv, rng } = w;
  for (let i = 0; i < w.vs.length; i++) for (const m of w.nested[i]!) drv.attach(m, w.guests[i]![rng.below(2)]!.d);
  for (const gs of w.guests) for (const g of gs) for (let k = 0; k < 4; k++) mapGuest(w, g);
  for (let k = 0; k < 3; k++) {
    const b = drv.dmaMap(w.host, w.o.granule * (1 + rng.below(8)));
    if (b !== null) w.hostBufs.push(b);
  }
}

/** A stage-2 change by the VMM: a guest RAM chunk migrated, or a guest table page moved (option `nestedVmm`). */
function vmmChange(w: NestedWorld, g: Guest): void {
  const { rng } = w;
  if (w.vmm === 'ram' || (w.vmm === 'both' && rng.chance(0.5))) {
    // Mostly chunks that hold live guest buffers (their translations are cached), sometimes any.
    const live = w.guests.flat().flatMap((x) => x.bufs);
    const chunk =
      live.length > 0 && rng.chance(0.8)
        ? Math.floor((rng.pick(live).pa - LAYOUT.guestRamIpa) / LAYOUT.guestChunk)
        : rng.below(w.parent.guest!.chunks.length);
    w.drv.migrateGuestChunk(w.parent, chunk);
    w.migrations++;
  } else if (moveTablePage(w, g)) w.tableMoves++;
}

/** Host DMA beside the guest: an unmap, or a map its device uses. */
function hostChurn(w: NestedWorld): void {
  const { rng, drv } = w;
  if (w.hostBufs.length > 0 && rng.chance(0.5))
    drv.dmaUnmap(w.host, w.hostBufs.splice(rng.below(w.hostBufs.length), 1)[0]!);
  else {
    const b = drv.dmaMap(w.host, w.o.granule * (1 + rng.below(8)));
    if (b !== null) {
      w.hostBufs.push(b);
      drv.dmaAccess(w.hostMaster, 0, b, rng, 3);
    }
  }
}

/** One main-loop operation on a random vSMMU's guest, chosen by one draw. */
function nestedStep(w: NestedWorld): void {
  const { rng, drv } = w;
  const r = rng.float();
  const vi = rng.below(w.vs.length);
  const g = w.guests[vi]![rng.below(2)]!;
  if (r < 0.25) mapGuest(w, g);
  else if (r < 0.45) {
    if (g.bufs.length > 0) drv.dmaUnmap(g.d, g.bufs.splice(rng.below(g.bufs.length), 1)[0]!);
  } else if (r < 0.6) vmmChange(w, g);
  else if (r < 0.75) {
    const m = rng.pick(w.nested[vi]!);
    const mg = guestOf(w, m);
    if (mg !== undefined && mg.bufs.length > 0) drv.dmaAccess(m, 0, rng.pick(mg.bufs), rng, 4);
  } else if (r < 0.85) drv.attach(rng.pick(w.nested[vi]!), g.d);
  else if (r < 0.9) {
    const m = rng.pick(w.nested[vi]!);
    if (m.rid !== null) drv.detach(m);
    else drv.attach(m, g.d);
  } else if (r < 0.96) hostChurn(w);
  else drv.checkEverything();
}

/** The operations the report lists, from the driver's counters and the scenario's own counts. */
function nestedOperations(w: NestedWorld): Record<string, number> {
  const c = w.drv.counters;
  return {
    maps: c.maps,
    unmaps: c.unmaps,
    guestRamMigrations: w.migrations,
    guestTableMoves: w.tableMoves,
    attaches: c.attaches,
    detaches: c.detaches,
    iotlbSyncs: c.iotlbSyncs,
    tagFlushes: c.tagFlushes,
    atcFlushes: c.atcFlushes,
    dmaAccesses: c.dmaAccesses,
    ...atsTimeoutOperations(w.o, c),
  };
}

/** The nested scenario as a stepper (set up on creation; see ScenarioStepper). */
export function startNestedScenario(o: ScenarioOptions): ScenarioStepper {
  const t0 = now();
  const w = setUpNestedWorld(o);
  startNested(w);
  // ATS endpoints that may time out (option atsTimeouts): the nested devices' and the host device's.
  const armTimeout = atsTimeoutArmer(o.atsTimeouts, o.seed, driverAtsEndpoints(w.drv, w.drv.masters));
  return loopStepper(
    o.ops ?? NESTED_DEFAULT_OPS,
    () => {
      armTimeout();
      nestedStep(w);
    },
    () => {
      w.drv.checkEverything();
      return driverRun(w.drv, o.policy, nestedOperations(w), now() - t0);
    },
  );
}

export function runNestedScenario(o: ScenarioOptions): ScenarioRun {
  return runToEnd(startNestedScenario(o));
}
