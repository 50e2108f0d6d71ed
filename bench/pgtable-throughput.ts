/**
 * Page-table map / unmap throughput, 4K granule, stage 1, 48-bit input
 * (run: `npx tsx bench/pgtable-throughput.ts [rounds]`).
 *
 * Cases, each mapped then unmapped in full, the median over the rounds reported:
 *  - 1 GiB of 4K pages (262,144 leaves) in ONE map call and ONE unmap call (pa offset by 4K so that no 2M
 *    block fits);
 *  - the same 1 GiB as 262,144 map calls and 262,144 unmap calls of 4K each (a driver mapping page by page);
 *  - 256 GiB of 2M blocks (131,072 leaves) in one call each;
 *  - 131,072 map / unmap calls of one 2M block each.
 * After each case the table is empty again (checked: only the root frame is live). Peak memory is sampled
 * with process.memoryUsage() after every phase.
 */
import { IoPageTable } from '../src/pgtable/index.js';
import type { Prot } from '../src/pgtable/index.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const GiB = 2 ** 30;
const K4 = 4096;
const M2 = 2 ** 21;
const PROT: Prot = { read: true, write: true, exec: false };

let peakRss = 0;
let peakHeap = 0;
function sample(): void {
  const m = process.memoryUsage();
  if (m.rss > peakRss) peakRss = m.rss;
  if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Case {
  name: string;
  leaves: number;
  map(t: IoPageTable): void;
  unmap(t: IoPageTable): number;
}

const IOVA = 0x80_0000_0000;
const PA = 0x1_0000_0000 + K4;
const PA_BLOCK = 0x1_0000_0000;

const cases: Case[] = [
  {
    name: '1 GiB of 4K pages, one call',
    leaves: GiB / K4,
    map: (t) => void t.map(IOVA, PA, GiB, PROT),
    unmap: (t) => t.unmap(IOVA, GiB).unmapped,
  },
  {
    name: '1 GiB of 4K pages, one call per page',
    leaves: GiB / K4,
    map: (t) => {
      for (let off = 0; off < GiB; off += K4) t.map(IOVA + off, PA + off, K4, PROT);
    },
    unmap: (t) => {
      let n = 0;
      for (let off = 0; off < GiB; off += K4) n += t.unmap(IOVA + off, K4).unmapped;
      return n;
    },
  },
  {
    name: '256 GiB of 2M blocks, one call',
    leaves: (256 * GiB) / M2,
    map: (t) => void t.map(IOVA, PA_BLOCK, 256 * GiB, PROT),
    unmap: (t) => t.unmap(IOVA, 256 * GiB).unmapped,
  },
  {
    name: '256 GiB of 2M blocks, one call per block',
    leaves: (256 * GiB) / M2,
    map: (t) => {
      for (let off = 0; off < 256 * GiB; off += M2) t.map(IOVA + off, PA_BLOCK + off, M2, PROT);
    },
    unmap: (t) => {
      let n = 0;
      for (let off = 0; off < 256 * GiB; off += M2) n += t.unmap(IOVA + off, M2).unmapped;
      return n;
    },
  },
];

// 1G blocks would make the 2M case trivial: keep pa 2M-aligned but not 1G-aligned.
const PA_BLOCK_FIX = PA_BLOCK + M2;

console.log(`node ${process.version}, ${ROUNDS} rounds, median times`);
for (const c of cases) {
  const mapMs: number[] = [];
  const unmapMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = new IoPageTable({ stage: 1, granule: 4096, ias: 48 });
    let t0 = performance.now();
    if (c.name.startsWith('256 GiB') && c.name.endsWith('one call')) void t.map(IOVA, PA_BLOCK_FIX, 256 * GiB, PROT);
    else c.map(t);
    mapMs.push(performance.now() - t0);
    sample();
    t0 = performance.now();
    const n = c.unmap(t);
    unmapMs.push(performance.now() - t0);
    sample();
    if (t.allocator.liveFrames !== 1 || n === 0) throw new Error(`${c.name}: table not empty after unmap`);
  }
  const m = median(mapMs);
  const u = median(unmapMs);
  console.log(
    `${c.name.padEnd(42)} map ${m.toFixed(1).padStart(7)} ms (${((c.leaves / m) * 1e-3).toFixed(2)} M leaves/s)` +
      `   unmap ${u.toFixed(1).padStart(7)} ms (${((c.leaves / u) * 1e-3).toFixed(2)} M leaves/s)`,
  );
}
console.log(`peak rss ${(peakRss / 2 ** 20).toFixed(1)} MiB, peak heap used ${(peakHeap / 2 ** 20).toFixed(1)} MiB`);
