/**
 * Range invalidation cost: the model's interval index against a plain linear scan of every cached entry
 * (what QEMU's IOTLB does), at 10^4, 10^5 and 10^6 cached TLB entries.
 *
 * Workload: n 4 KiB leaf entries under 8 ASIDs of one VMID, spread over 64 GiB; each invalidation is an
 * NH_VA-style range of 16 pages for one ASID at a random address. Removed entries are re-inserted so n
 * stays constant. Both sides remove exactly the same entries (checked).
 *
 * Run: npx tsx bench/smmu-index.ts
 */
import { Kind, Regime, TaggedCache, TlbEntry } from '../src/smmu/caches.js';
import { Rng } from '../src/smmu/rng.js';

const ASIDS = 8;
const SPAN_PAGES = 16 * 2 ** 20; // 64 GiB of 4 KiB pages

function entry(asid: number, page: number): TlbEntry {
  return new TlbEntry({
    regime: Regime.NH,
    kind: Kind.S1,
    vmid: 0,
    asid,
    srcAsid: asid,
    inStart: page * 4096,
    sizeLog2: 12,
    outStart: 0x8000_0000 + page * 4096,
    level: 3,
    granuleLog2: 12,
    attrLo: 0xc00,
    attrHi: 0,
  });
}

function build(n: number, seed: number): TlbEntry[] {
  const rng = new Rng(seed);
  const seen = new Set<number>();
  const out: TlbEntry[] = [];
  while (out.length < n) {
    const asid = 1 + rng.below(ASIDS);
    const page = rng.below(SPAN_PAGES);
    const key = page * 16 + asid;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(entry(asid, page));
  }
  return out;
}

function benchIndex(entries: TlbEntry[], queries: [number, number][]): { ns: number; removed: number } {
  const cache = new TaggedCache<TlbEntry>(Infinity, new Rng(1), null);
  for (const e of entries) cache.insert(e);
  let removed = 0;
  const t0 = process.hrtime.bigint();
  for (const [asid, first] of queries) {
    const g = cache.group(Regime.NH, Kind.S1, 0)!;
    const victims: TlbEntry[] = [];
    g.byAsid.get(asid)?.overlapping(first, first + 16 * 4096 - 1, (e) => {
      victims.push(e);
    });
    for (const e of victims) cache.remove(e);
    removed += victims.length;
    for (const e of victims) cache.insert(e);
  }
  const ns = Number(process.hrtime.bigint() - t0) / queries.length;
  return { ns, removed };
}

function benchLinear(entries: TlbEntry[], queries: [number, number][]): { ns: number; removed: number } {
  const all = entries.slice();
  let removed = 0;
  const t0 = process.hrtime.bigint();
  for (const [asid, first] of queries) {
    const last = first + 16 * 4096 - 1;
    const victims: TlbEntry[] = [];
    for (let i = 0; i < all.length; i++) {
      const e = all[i]!;
      if (
        e.regime === Regime.NH &&
        e.kind === Kind.S1 &&
        e.vmid === 0 &&
        e.asid === asid &&
        e.inStart <= last &&
        e.inStart + 4096 - 1 >= first
      ) {
        victims.push(e);
        all[i] = all[all.length - 1]!;
        all.pop();
        i--;
      }
    }
    removed += victims.length;
    for (const e of victims) all.push(e);
  }
  const ns = Number(process.hrtime.bigint() - t0) / queries.length;
  return { ns, removed };
}

const rows: string[] = [];
for (const n of [1e4, 1e5, 1e6]) {
  const entries = build(n, 7);
  const rng = new Rng(99);
  // Half the queries hit a cached entry's neighbourhood, half are random.
  const mk = (count: number): [number, number][] =>
    Array.from({ length: count }, (_, i) => {
      if (i % 2 === 0) {
        const e = entries[rng.below(entries.length)]!;
        return [e.asid, e.inStart - 4096 * rng.below(8)] as [number, number];
      }
      return [1 + rng.below(ASIDS), 4096 * rng.below(SPAN_PAGES)] as [number, number];
    });
  const linQueries = mk(n >= 1e6 ? 200 : n >= 1e5 ? 1000 : 5000);
  const idxQueries = linQueries.concat(mk(20000));
  benchLinear(entries, linQueries.slice(0, 50)); // warm-up
  const lin = benchLinear(entries, linQueries);
  const idxSame = benchIndex(entries, linQueries);
  const idx = benchIndex(entries, idxQueries);
  if (idxSame.removed !== lin.removed) throw new Error(`index removed ${idxSame.removed}, linear scan ${lin.removed}`);
  rows.push(
    `${String(n).padStart(8)} entries: index ${(idx.ns / 1000).toFixed(2)} µs/invalidation, linear scan ${(lin.ns / 1000).toFixed(1)} µs/invalidation → ${(lin.ns / idx.ns).toFixed(0)}x (removed ${lin.removed} in ${linQueries.length} same queries)`,
  );
  console.log(rows[rows.length - 1]);
}
