/**
 * ATC invalidation timeouts in the SMMU model (issue 14 item 12; IHI 0070 3.9.1.4, 4.7.3, 4.1.3): an ATS
 * endpoint that does not answer makes the next CMD_SYNC raise CERROR_ATC_INV_SYNC — not consumed, no MSI, no
 * guarantee; the invalidations before it stay pending until the re-executed SYNC completes, and the lost
 * ATC invalidation has to be issued again. Each case is judged by the stale checker; the twin whose
 * endpoint answers is clean.
 */
import { describe, expect, it } from 'vitest';
import { GERROR_CMDQ_ERR, CmdqError } from '../src/smmu/queue.js';
import { StaleChecker } from '../src/smmu/checker.js';
import { HandTable, S1_RW, SYNC, cmd, newModel, submit } from './smmu-fixtures.js';

const ROOT = 0x10_0000;
const L3 = 0x10_3000;
const VA = 0x4000_0000;
const PAGES = 8;
const MSI = 0x20_0000;
const SYNC_MSI = (data: number): number[] =>
  cmd('CMD_SYNC', { cs: 1, msh: 3, msiattr: 15, msidata: data, msiaddr: MSI });

/** An ATS stream (sid 1) with PAGES pages, cached in TLB and ATC; then every page is unmapped. */
function scene(timeouts: number) {
  const { mem, model } = newModel();
  const t = new HandTable(mem, ROOT);
  t.table(ROOT, 0, VA, 0x10_1000);
  t.table(0x10_1000, 1, VA, 0x10_2000);
  t.table(0x10_2000, 2, VA, L3);
  for (let i = 0; i < PAGES; i++) t.page(L3, VA + i * 0x1000, 0x8000_0000 + i * 0x1000, S1_RW);
  model.setStream({ sid: 1, mode: 'stage1', ats: true, vmid: 0, cds: new Map([[0, { asid: 5, table: t.cfg }]]) });
  for (let i = 0; i < PAGES; i++) model.translate(1, 0, VA + i * 0x1000);
  expect(model.atc.size).toBe(PAGES);
  for (let i = 0; i < PAGES; i++) t.clear(L3, 3, VA + i * 0x1000);
  model.setEndpointTimeouts(1, timeouts);
  const checker = new StaleChecker(mem);
  const stale = (cache: string): number => checker.checkAll(model).filter((r) => r.cache === cache).length;
  const syncs: number[] = [];
  model.onSyncComplete = (slot) => syncs.push(slot);
  return { mem, model, stale, syncs };
}

const TLBI = (): number[] => cmd('TLBI_NH_ASID', { asid: 5 });
const ATC = (): number[] => cmd('ATC_INV', { sid: 1, size: 52 });

describe('a CMD_SYNC after a timed-out ATC_INV', () => {
  it('stops on CERROR_ATC_INV_SYNC: CONS stays on it, GERROR.CMDQ_ERR toggles, no MSI, no completion', () => {
    const s = scene(1);
    submit(s.model, TLBI(), SYNC(), ATC(), SYNC_MSI(7));
    const q = s.model.queue;
    expect(q.stalled).toBe(true);
    expect(q.consErr).toBe(CmdqError.ATC_INV_SYNC);
    expect(q.slotOf(q.cons)).toBe(3); // the SYNC itself, not consumed
    expect((q.gerror ^ q.gerrorn) & GERROR_CMDQ_ERR).toBe(GERROR_CMDQ_ERR);
    expect(s.mem.readU32(MSI)).toBe(0);
    expect(s.syncs).toEqual([1]); // only the first SYNC completed
    // The lost invalidation: the ATC is as it was.
    expect(s.model.atc.size).toBe(PAGES);
    // GERRORN := GERROR: the same SYNC executes again and completes (signal included)...
    s.model.acknowledgeError();
    expect(q.stalled).toBe(false);
    expect(q.empty).toBe(true);
    expect(s.mem.readU32(MSI)).toBe(7);
    expect(s.syncs).toEqual([1, 3]);
    // ...but gives no guarantee for the ATC_INV that timed out: its entries are stale.
    expect(s.stale('ATC')).toBe(PAGES);
    expect(s.stale('TLB')).toBe(0);
    // Issued again, the request is answered.
    submit(s.model, ATC(), SYNC());
    expect(s.model.queue.stalled).toBe(false);
    expect(s.stale('ATC')).toBe(0);
  });

  it('clean twin: an endpoint that answers completes the same stream with no error', () => {
    const s = scene(0);
    submit(s.model, TLBI(), SYNC(), ATC(), SYNC_MSI(7));
    expect(s.model.queue.stalled).toBe(false);
    expect(s.mem.readU32(MSI)).toBe(7);
    expect(s.stale('ATC') + s.stale('TLB')).toBe(0);
    expect(s.model.atc.size).toBe(0);
  });

  it('leaves the TLB invalidations before it pending until the re-executed SYNC completes', () => {
    const s = scene(1);
    const tlbBefore = s.model.tlb.size;
    submit(s.model, TLBI(), ATC(), SYNC());
    expect(s.model.queue.consErr).toBe(CmdqError.ATC_INV_SYNC);
    expect(s.model.tlb.size).toBe(tlbBefore); // nothing completed
    expect(s.model.pending.length).toBe(1); // the TLBI (the ATC_INV is lost)
    s.model.acknowledgeError();
    expect(s.model.pending.length).toBe(0);
    expect(s.stale('TLB')).toBe(0);
    expect(s.stale('ATC')).toBe(PAGES);
  });

  it('fails again when executed again while timeouts are unreported (one per execution)', () => {
    const s = scene(2);
    submit(s.model, ATC(), ATC(), SYNC());
    expect(s.model.queue.consErr).toBe(CmdqError.ATC_INV_SYNC);
    s.model.acknowledgeError();
    expect(s.model.queue.stalled).toBe(true); // the re-executed SYNC timed out again
    expect(s.model.queue.consErr).toBe(CmdqError.ATC_INV_SYNC);
    s.model.acknowledgeError();
    expect(s.model.queue.stalled).toBe(false);
    expect(s.model.endpoints.syncErrors).toBe(2);
    expect(s.model.endpoints.timedOut).toBe(2);
    // The endpoint had two timeouts: it answers now.
    submit(s.model, ATC(), SYNC());
    expect(s.model.queue.stalled).toBe(false);
    expect(s.model.atc.size).toBe(0);
  });

  it('an endpoint that never answers times out until it is reset; the reset empties its ATC', () => {
    const s = scene(Infinity);
    for (let k = 0; k < 3; k++) {
      submit(s.model, ATC(), SYNC());
      expect(s.model.queue.consErr).toBe(CmdqError.ATC_INV_SYNC);
      s.model.acknowledgeError();
      expect(s.model.queue.stalled).toBe(false);
      expect(s.stale('ATC')).toBe(PAGES);
    }
    s.model.resetEndpoint(1);
    expect(s.model.atc.size).toBe(0);
    expect(s.stale('ATC')).toBe(0);
    submit(s.model, ATC(), SYNC());
    expect(s.model.queue.stalled).toBe(false);
    expect(() => s.model.setEndpointTimeouts(1, -1)).toThrow(RangeError);
  });
});
