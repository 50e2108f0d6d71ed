/**
 * The kernel-driver consumer's configuration: the STE (and CD table) a master's attachments give each of its
 * StreamIDs, and how they are written into a live SMMU — Linux's STE/CD update sequences (../ste-update.ts),
 * each step a write, its CFGI_CD / CFGI_STE and a CMD_SYNC — followed by the checker's comparison of what the
 * SMMU caches with memory.
 */
import type { Command } from '../../cmdq/index.js';
import type { ContextDescriptor, StreamConfig } from '../../smmu/streams.js';
import { cdFields, cfgiCd, cfgiSte, steFields, updateSteps, usesCds } from '../ste-update.js';
import type { SmmuModel } from '../../smmu/model.js';
import { portOf, type DriverCore } from './core.js';
import type { Master } from './domain.js';

/** The STE of one of a master's StreamIDs as its attachments say (null: no domain, the STE aborts). */
export function streamOf(c: DriverCore, m: Master, sid: number): StreamConfig | null {
  const port = portOf(c, m.smmu);
  if (m.vsmmu !== null && m.rid !== null) {
    const g = m.rid;
    const cds = new Map<number, ContextDescriptor>([[0, { asid: g.tag, table: g.tableConfig }]]);
    return { sid, mode: 'nested', ats: m.ats, vmid: m.vsmmu.vmid, s2: m.vsmmu.parent.tableConfig, cds };
  }
  if (m.rid !== null && m.rid.kind === 's2')
    return { sid, mode: 'stage2', ats: m.ats, vmid: m.rid.tag, s2: m.rid.tableConfig };
  const cds = new Map<number, ContextDescriptor>();
  if (m.rid !== null) cds.set(0, { asid: m.rid.tag, table: m.rid.tableConfig });
  for (const [p, d] of m.pasids) cds.set(p, { asid: d.tag, table: d.tableConfig });
  if (cds.size === 0) return null;
  return { sid, mode: 'stage1', ats: m.ats, vmid: 0, regime: port.spec.e2h ? 'el2-e2h' : 'nh', cds };
}

/** One configuration batch (its commands and a CMD_SYNC) on the master's SMMU. */
type Submit = (cmds: Command[]) => void;

/**
 * Write the master's STEs (or make them abort) and its CD at `pasid`, the way Linux updates live structures
 * (ste-update.ts): when the new STE uses a CD table the CD is written first, then the STE; otherwise the
 * STE first (the CD table is then no longer reachable). Each step is a write, CFGI_CD for every StreamID
 * of the master (CD) or CFGI_STE (STE), and a CMD_SYNC; hitless where one qword of used fields changes,
 * breaking (V = 0 first) otherwise. Then the checker compares what the SMMU caches with memory.
 */
export function installStreams(c: DriverCore, m: Master, pasid: number): void {
  const port = portOf(c, m.smmu);
  const model = port.model;
  const targets = m.sids.map((sid) => streamOf(c, m, sid));
  const submit: Submit = (cmds) => port.submitCommands(cmds, c.stats, c.injection);
  if (usesCds(targets[0] ?? null)) {
    writeCdSteps(model, m, pasid, targets, submit);
    writeSteSteps(model, m, targets, submit);
  } else writeSteSteps(model, m, targets, submit);
  if (port.powered) c.stale.note(port.checker.checkConfig(model, m.sids));
}

/** The CD at `pasid` in the master's CD table (reachable only while the STE uses the table). */
function writeCdSteps(
  model: SmmuModel,
  m: Master,
  pasid: number,
  targets: readonly (StreamConfig | null)[],
  submit: Submit,
): void {
  const cur = model.streams.get(m.sids[0]!) ?? null;
  const from = usesCds(cur) ? (cur!.cds?.get(pasid) ?? null) : null;
  const to = targets[0]?.cds?.get(pasid) ?? null;
  for (const step of updateSteps(cdFields(from), cdFields(to))) {
    m.sids.forEach((sid, i) => {
      const st = model.streams.get(sid) ?? null;
      if (!usesCds(st) || step === 'old') return;
      const cds = new Map(st!.cds);
      const cd = step === 'new' ? targets[i]?.cds?.get(pasid) : undefined;
      if (cd === undefined) cds.delete(pasid);
      else cds.set(pasid, cd);
      model.writeStream({ ...st!, cds });
    });
    submit(m.sids.map((sid) => cfgiCd(sid, pasid)));
  }
}

/** Each StreamID's STE, step by step, then whatever no step covered. */
function writeSteSteps(model: SmmuModel, m: Master, targets: readonly (StreamConfig | null)[], submit: Submit): void {
  const write = (sid: number, st: StreamConfig | null): void => {
    if (st === null) model.writeStreamInvalid(sid);
    else model.writeStream(st);
  };
  m.sids.forEach((sid, i) => {
    const cur = model.streams.get(sid) ?? null;
    const target = targets[i] ?? null;
    for (const step of updateSteps(steFields(cur), steFields(target))) {
      if (step === 'invalid') model.writeStreamInvalid(sid);
      else if (step === 'new') write(sid, target);
      submit([cfgiSte(sid)]);
    }
    // Fields no STE step covers (the CD table's other entries) land with the last write.
    write(sid, target);
  });
}
