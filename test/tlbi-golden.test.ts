/**
 * Golden vectors from a real kernel: 646 requests a Linux 6.1 arm64 guest made to its SMMUv3 driver (RIL on,
 * 4 KiB pages, ASID 1), with the exact 64-bit words it queued for each, including the CMD_SYNC. Each request
 * is planned with policy `linux` for one S1_ASID target and must match bit for bit.
 *
 * Linux 6.1 vs 7.0: 6.1's loop computed TTL for non-leaf requests too and had no "+1 page" rule for non-leaf
 * single-page chunks. Neither difference shows in this capture: its 6 non-leaf requests (tlb_flush_walk of a
 * freed level-3 table) are all 2 MiB = 512 pages, where the page count ends in 0b00000 (no +1 page), and the
 * words the kernel queued carry TTL=0 — the same as 7.0's rule. So every line, leaf and non-leaf, is compared
 * exactly; the test also counts them so that a capture with other shapes cannot pass silently.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hex64 } from '../src/bits.js';
import { PlanOutput, invalidateRange, invsOf, type RangeRequest } from '../src/tlbi/index.js';

interface Line {
  run: string;
  request: {
    iova?: string;
    size?: string;
    granule?: string;
    leaf?: boolean;
    asid: number;
    vmid: number;
    pgsize?: string;
    flush_all?: boolean;
  };
  commands: [string, string][];
  sync: [string, string];
}

const FILE = new URL('../samples/linux-6.1-qemu-7.2-strict/requests.jsonl.gz', import.meta.url);
const lines: Line[] = gunzipSync(readFileSync(FILE))
  .toString('utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Line);

function plan(l: Line): [string, string][] {
  const r = l.request;
  const invs = invsOf([{ smmu: 0, type: 'S1_ASID', id: r.asid, vmid: r.vmid, pgsize: Number(r.pgsize ?? 4096) }]);
  const req: RangeRequest = r.flush_all
    ? { iova: 0, size: 0, granule: 4096, leaf: true }
    : { iova: Number(r.iova), size: Number(r.size), granule: Number(r.granule), leaf: r.leaf! };
  const out = new PlanOutput();
  invalidateRange(invs, req, [{ ril: true, e2h: false, forceSync: false }], out);
  const u = out.buf.u32;
  const words: [string, string][] = [];
  for (let s = 0; s < out.count; s++)
    words.push([hex64(u[s * 4]!, u[s * 4 + 1]!), hex64(u[s * 4 + 2]!, u[s * 4 + 3]!)]);
  return words;
}

describe('linux policy against a real Linux 6.1 capture', () => {
  it('has the shapes this test documents (646 lines: 637 leaf, 6 non-leaf 2 MiB walks, 3 flush-all)', () => {
    const leaf = lines.filter((l) => l.request.leaf === true).length;
    const walk = lines.filter((l) => l.request.leaf === false);
    const all = lines.filter((l) => l.request.flush_all === true).length;
    expect(lines.length).toBe(646);
    expect([leaf, walk.length, all]).toEqual([637, 6, 3]);
    expect(walk.every((l) => Number(l.request.size) === 0x200000 && Number(l.request.granule) === 0x1000)).toBe(true);
  });

  it('reproduces every leaf request bit for bit (4K, 2M and 1G granules)', () => {
    const bad: string[] = [];
    for (const l of lines.filter((x) => x.request.leaf === true)) {
      const want = [...l.commands, l.sync];
      const got = plan(l);
      if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(JSON.stringify(l.request));
    }
    expect(bad).toEqual([]);
  });

  it('reproduces the non-leaf (walk) requests and the whole-ASID flushes bit for bit', () => {
    for (const l of lines.filter((x) => x.request.leaf !== true)) {
      expect(plan(l), JSON.stringify(l.request)).toEqual([...l.commands, l.sync]);
    }
  });

  it('covers the granules of the capture', () => {
    const granules = new Set(lines.filter((l) => l.request.granule).map((l) => Number(l.request.granule)));
    expect([...granules].sort((a, b) => a - b)).toEqual([0x1000, 0x200000, 0x40000000]);
  });
});

/**
 * The other real captures in samples/ (QEMU 10.0.2, RIL on): Debian's 7.0.13 (the older driver,
 * `__arm_smmu_tlb_inv_range`) and 7.3.4 (the per-domain `arm_smmu_invs` driver, `arm_smmu_domain_inv_range`,
 * strict and lazy). Every record's request is planned for the one S1_ASID target the capture names and must
 * give the words the kernel queued, CMD_SYNC included. The counts pin what each capture holds (from
 * samples/README.md), so a truncated file cannot pass.
 */
const OTHER: readonly { dir: string; records: number; leaf: number; flushAll: number }[] = [
  { dir: 'linux-7.0-qemu-10.0-strict', records: 24, leaf: 24, flushAll: 0 },
  { dir: 'linux-7.3-qemu-10.0-strict', records: 611, leaf: 608, flushAll: 0 },
  { dir: 'linux-7.3-qemu-10.0-lazy', records: 6, leaf: 0, flushAll: 3 },
];

describe.each(OTHER)('linux policy against the real capture $dir', ({ dir, records, leaf, flushAll }) => {
  const recs: Line[] = gunzipSync(readFileSync(new URL(`../samples/${dir}/requests.jsonl.gz`, import.meta.url)))
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

  it('holds the records samples/README.md describes', () => {
    expect(recs.length).toBe(records);
    expect(recs.filter((l) => l.request.leaf === true).length).toBe(leaf);
    expect(recs.filter((l) => l.request.flush_all === true).length).toBe(flushAll);
    expect(recs.every((l) => l.commands.length > 0)).toBe(true);
  });

  it('reproduces every request bit for bit', () => {
    const bad = recs
      .filter((l) => JSON.stringify(plan(l)) !== JSON.stringify([...l.commands, l.sync]))
      .map((l) => JSON.stringify(l.request));
    expect(bad).toEqual([]);
  });
});
