/**
 * Configuration caches (issue 14 item 14; IHI 0070 §4.3, §3.21.3, §16.2): the model caches STEs and CDs and
 * drops them only when a CFGI_* command covering them completes at a CMD_SYNC. The references are the page
 * tables themselves (IoPageTable.walk gives the output address the live configuration leads to) and the
 * architecture's scope of each command; nothing is compared with the model's own output alone.
 */
import { describe, expect, it } from 'vitest';
import { FrameAllocator, IoPageTable, PhysMemory } from '../src/pgtable/index.js';
import { StaleChecker } from '../src/smmu/checker.js';
import { SmmuModel, XlateStatus } from '../src/smmu/model.js';
import type { StreamConfig } from '../src/smmu/streams.js';
import type { TableConfig } from '../src/smmu/walker.js';
import { SYNC, cmd, submit } from './smmu-fixtures.js';

const IOVA = 0x4000_0000;
const PA_A = 0x8000_0000;
const PA_B = 0x9000_0000;
const prot = { read: true, write: true, exec: false };

/** Two stage-1 domains mapping the same 16 pages to different memory; stream 1 uses domain A (ASID 5). */
function scene(seed = 1, trafficPerRound = 4) {
  const mem = new PhysMemory();
  const table = (base: number, pa: number): { pt: IoPageTable; cfg: TableConfig } => {
    const pt = new IoPageTable({
      stage: 1,
      granule: 4096,
      ias: 48,
      memory: mem,
      allocator: new FrameAllocator(4096, base, 1 << 24),
    });
    pt.map(IOVA, pa, 0x10000, prot);
    return { pt, cfg: { root: pt.config.rootPa, granuleLog2: 12, ias: 48, stage: 1 } };
  };
  const a = table(0x40_0000_0000, PA_A);
  const b = table(0x41_0000_0000, PA_B);
  const model = new SmmuModel(mem, { seed, trafficPerRound });
  const stream = (asid: number, cfg: TableConfig, sid = 1): StreamConfig => ({
    sid,
    mode: 'stage1',
    ats: false,
    vmid: 0,
    cds: new Map([[0, { asid, table: cfg }]]),
  });
  model.setStream(stream(5, a.cfg));
  model.prefetch(1, 0, IOVA, IOVA + 0xffff); // caches the STE, the CD and ASID 5's leaves
  const checker = new StaleChecker(mem);
  /** Software moves the stream to domain B (ASID 6) by rewriting its CD in memory. */
  const moveCd = (): void => model.writeStream(stream(6, b.cfg));
  const out = (page: number): number => model.translate(1, 0, IOVA + page * 0x1000);
  /** Where the live configuration (domain B) sends the page: the page table's own walk. */
  const liveOut = (page: number): number => b.pt.walk(IOVA + page * 0x1000).pa!;
  return { mem, model, a, b, stream, moveCd, out, liveOut, checker };
}

describe('configuration caches: a CD change needs CFGI_CD (or CFGI_STE) and a CMD_SYNC', () => {
  it('negative control: the ASID changed in the CD without CFGI_CD — the old ASID (and table) still translate', () => {
    const s = scene();
    s.moveCd();
    submit(s.model, cmd('TLBI_NH_ASID', { asid: 5 }), SYNC());
    // The old model read the CD from memory at once: page 3 went to domain B. The cached CD still says ASID 5.
    expect(s.out(3)).toBe(PA_A + 0x3000);
    expect(s.out(3)).not.toBe(s.liveOut(3));
    const reports = s.checker.checkConfig(s.model);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ cache: 'CD', entry: { sid: '0x1', ssid: 0, fields: 'ASID,TTB0' } });
    expect(reports[0]!.cached).toContain('ASID=5');
    expect(reports[0]!.live).toContain('ASID=6');
    expect(s.checker.checkAll(s.model).length).toBeGreaterThan(1); // the CD and the ASID-5 leaves it refilled
  });

  it('clean twin: CFGI_CD + CMD_SYNC, then the old ASID flushed + CMD_SYNC (Linux order)', () => {
    const s = scene();
    s.moveCd();
    submit(s.model, cmd('CFGI_CD', { sid: 1, ssid: 0, leaf: 1 }), SYNC());
    submit(s.model, cmd('TLBI_NH_ASID', { asid: 5 }), SYNC());
    for (let p = 0; p < 16; p++) expect(s.out(p)).toBe(s.liveOut(p));
    expect(s.checker.checkAll(s.model)).toEqual([]);
  });

  it('nothing is guaranteed before the CMD_SYNC: a consumed CFGI_CD alone leaves the old CD in use', () => {
    const s = scene();
    s.moveCd();
    submit(s.model, cmd('CFGI_CD', { sid: 1, ssid: 0, leaf: 1 }));
    expect(s.model.pending.length).toBe(1);
    expect(s.out(0)).toBe(PA_A);
    submit(s.model, SYNC());
    expect(s.out(0)).toBe(PA_B);
  });

  it('CFGI_CD and the old-ASID flush in one batch: with traffic between them the old ASID can be refilled', () => {
    // IHI 0070 §4.1.4: nothing orders the two; if the flush completes first, traffic through the still-cached
    // CD refills ASID 5, which no CD uses any more (a tag a later domain may be given).
    let stale = 0;
    let clean = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const s = scene(seed);
      s.model.setTraffic([{ sid: 1, ssid: 0, first: IOVA, last: IOVA + 0xffff }]);
      s.moveCd();
      submit(s.model, cmd('CFGI_CD', { sid: 1, ssid: 0, leaf: 1 }), cmd('TLBI_NH_ASID', { asid: 5 }), SYNC());
      s.model.clearTraffic();
      const n = s.checker.checkAll(s.model).length;
      if (n > 0) stale++;
      else clean++;
      // The twin with a CMD_SYNC between the two steps is clean for every seed.
      const t = scene(seed);
      t.model.setTraffic([{ sid: 1, ssid: 0, first: IOVA, last: IOVA + 0xffff }]);
      t.moveCd();
      submit(t.model, cmd('CFGI_CD', { sid: 1, ssid: 0, leaf: 1 }), SYNC(), cmd('TLBI_NH_ASID', { asid: 5 }), SYNC());
      t.model.clearTraffic();
      expect(t.checker.checkAll(t.model)).toEqual([]);
    }
    expect(stale).toBeGreaterThan(0);
    expect(clean).toBeGreaterThan(0); // the other order is harmless: the adversary picks per command
  });
});

describe('configuration caches: which CFGI removes what (§4.3.1–4.3.6)', () => {
  const cdStale = (commands: number[][]): number => {
    const s = scene();
    s.moveCd();
    submit(s.model, ...commands, SYNC());
    submit(s.model, cmd('TLBI_NH_ASID', { asid: 5 }), SYNC());
    return s.checker.checkConfig(s.model).length;
  };

  it('CFGI_STE (Leaf 1 or 0) also drops the CDs cached through the StreamID', () => {
    expect(cdStale([cmd('CFGI_STE', { sid: 1, leaf: 1 })])).toBe(0);
    expect(cdStale([cmd('CFGI_STE', { sid: 1, leaf: 0 })])).toBe(0);
    expect(cdStale([cmd('CFGI_STE', { sid: 2, leaf: 0 })])).toBe(1);
  });

  it('CFGI_CD of another SubstreamID or StreamID leaves the CD; CFGI_CD_ALL of the StreamID drops it', () => {
    expect(cdStale([cmd('CFGI_CD', { sid: 1, ssid: 1, leaf: 1 })])).toBe(1);
    expect(cdStale([cmd('CFGI_CD', { sid: 3, ssid: 0, leaf: 1 })])).toBe(1);
    expect(cdStale([cmd('CFGI_CD_ALL', { sid: 3 })])).toBe(1);
    expect(cdStale([cmd('CFGI_CD_ALL', { sid: 1 })])).toBe(0);
  });

  it('CFGI_STE_RANGE covers the aligned block of 2^(Range+1) StreamIDs; Range 31 is CFGI_ALL', () => {
    expect(cdStale([cmd('CFGI_STE_RANGE', { sid: 0, range: 0 })])).toBe(0); // StreamIDs 0-1
    expect(cdStale([cmd('CFGI_STE_RANGE', { sid: 3, range: 0 })])).toBe(1); // 2-3
    expect(cdStale([cmd('CFGI_STE_RANGE', { sid: 3, range: 1 })])).toBe(0); // 0-3: low bits ignored
    expect(cdStale([cmd('CFGI_STE_RANGE', { sid: 0x1000, range: 31 })])).toBe(0); // all
    expect(cdStale([cmd('CFGI_STE_RANGE', { sid: 0x1000, range: 11 })])).toBe(1); // 0x1000-0x1fff
  });

  it('TLB invalidations and CFGI_VMS_PIDM do not touch configuration', () => {
    expect(cdStale([cmd('TLBI_NSNH_ALL')])).toBe(1);
  });
});

describe('configuration caches: STE changes', () => {
  it('a stage-2 VMID change without CFGI_STE is reported by field; with CFGI_STE + SYNC it is clean', () => {
    for (const withCfgi of [false, true]) {
      const mem = new PhysMemory();
      const pt = new IoPageTable({
        stage: 2,
        granule: 4096,
        ias: 40,
        memory: mem,
        allocator: new FrameAllocator(4096, 0x40_0000_0000, 1 << 24),
      });
      pt.map(IOVA, PA_A, 0x4000, prot);
      const cfg: TableConfig = { root: pt.config.rootPa, granuleLog2: 12, ias: 40, stage: 2 };
      const model = new SmmuModel(mem, { trafficPerRound: 0 });
      model.setStream({ sid: 9, mode: 'stage2', ats: false, vmid: 3, s2: cfg });
      model.prefetch(9, 0, IOVA, IOVA + 0x3fff);
      model.writeStream({ sid: 9, mode: 'stage2', ats: false, vmid: 4, s2: cfg });
      if (withCfgi) submit(model, cmd('CFGI_STE', { sid: 9, leaf: 1 }), SYNC());
      submit(model, cmd('TLBI_S12_VMALL', { vmid: 3 }), SYNC());
      model.translate(9, 0, IOVA); // refills VMID 3 if the stale STE is still cached
      const reports = new StaleChecker(mem).checkAll(model);
      if (withCfgi) expect(reports).toEqual([]);
      else {
        expect(reports.find((r) => r.cache === 'STE')).toMatchObject({ entry: { sid: '0x9', fields: 'S2VMID' } });
        expect(reports.some((r) => r.cache === 'TLB' && r.entry.vmid === 3)).toBe(true);
      }
    }
  });

  it('detach (STE made invalid) without CFGI_STE keeps translating; with it the stream aborts', () => {
    const s = scene();
    s.model.writeStreamInvalid(1);
    expect(s.out(2)).toBe(PA_A + 0x2000);
    expect(s.checker.checkConfig(s.model)[0]).toMatchObject({ cache: 'STE', entry: { fields: 'V' } });
    submit(s.model, cmd('CFGI_STE', { sid: 1, leaf: 1 }), SYNC());
    expect(s.out(2)).toBe(-1);
    expect(s.model.lastStatus).toBe(XlateStatus.BAD_STREAM);
    expect(s.checker.checkConfig(s.model)).toEqual([]);
  });

  it('an invalid STE fetched by traffic is cached too (§3.21.3): attach needs CFGI_STE before it is used', () => {
    const s = scene();
    expect(s.model.translate(7, 0, IOVA)).toBe(-1);
    s.model.writeStream(s.stream(5, s.a.cfg, 7));
    expect(s.model.translate(7, 0, IOVA)).toBe(-1);
    expect(s.checker.checkConfig(s.model, [7])[0]).toMatchObject({ cache: 'STE', entry: { sid: '0x7', fields: 'V' } });
    submit(s.model, cmd('CFGI_STE', { sid: 7, leaf: 1 }), SYNC());
    expect(s.model.translate(7, 0, IOVA)).toBe(PA_A);
    expect(s.checker.checkConfig(s.model)).toEqual([]);
  });
});
