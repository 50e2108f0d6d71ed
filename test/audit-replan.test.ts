/**
 * Re-planning: requests recovered from a stream's batches, planned by the engine, compared with the stream.
 * The golden vectors are the real requests Linux 6.1 made (requests.jsonl: the request and the exact words
 * queued for it); the crafted differences are worked out by hand from the Linux loop in linux-invalidation.md.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseWord64 } from '../src/parse.js';
import type { ReplanSummary } from '../src/audit/index.js';
import { nhAsid, run, sync, va, type Raw } from './audit-helpers.js';

const FILE = new URL('../samples/linux-6.1-qemu-7.2-strict/requests.jsonl.gz', import.meta.url);

interface Line {
  run: string;
  request: { iova?: string; size?: string; granule?: string; leaf?: boolean; flush_all?: boolean; asid: number };
  commands: [string, string][];
  sync: [string, string];
}

const lines = gunzipSync(readFileSync(FILE))
  .toString('utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Line);

function raw(w: [string, string]): Raw {
  const [a, b] = parseWord64(w[0], 'w0');
  const [c, d] = parseWord64(w[1], 'w1');
  return [a, b, c, d];
}

function replanOf(items: Parameters<typeof run>[0]): ReplanSummary {
  return run(items, { replan: true }).replan!;
}

describe('the real Linux requests (requests.jsonl)', () => {
  it('recovers each request from its words and finds it identical to the linux policy', () => {
    expect(lines.length).toBe(646);
    const items: Raw[] = [];
    for (const l of lines) {
      for (const c of l.commands) items.push(raw(c));
      items.push(raw(l.sync));
    }
    const rp = replanOf(items);
    expect(rp.requests).toBe(lines.length);
    expect(rp.identical).toBe(lines.length);
    rp.rows.forEach((row, k) => {
      const q = lines[k]!.request;
      if (q.flush_all) {
        expect(row.size).toBe(0);
        expect(row.command).toBe('TLBI_NH_ASID');
        return;
      }
      expect([row.iova, row.size, row.granule, row.leaf, row.asid]).toEqual([
        Number(q.iova),
        Number(q.size),
        Number(q.granule),
        q.leaf,
        q.asid,
      ]);
    });
  });
});

describe('differences from the linux policy', () => {
  it('splits two requests queued under one CMD_SYNC', () => {
    // 33 pages (leaf): Linux gives SCALE=0 NUM=0 then SCALE=5 NUM=0; then an unrelated page elsewhere.
    const rp = replanOf([va(1, 0x10000000), va(1, 0x10001000, { scale: 5 }), va(1, 0x10021000), sync()]);
    // 34 contiguous pages would be one command in Linux (SCALE=1, NUM=16), so these are two requests.
    expect(rp.rows.map((r) => [r.size, r.identical])).toEqual([
      [0x21000, true],
      [0x1000, true],
    ]);
    // …and across a gap they are two requests.
    const rp2 = replanOf([va(1, 0x10000000), va(1, 0x10001000, { scale: 5 }), va(1, 0x20000000), sync()]);
    expect(rp2.rows.map((r) => [r.size, r.identical])).toEqual([
      [0x21000, true],
      [0x1000, true],
    ]);
    expect(rp2.stream.syncs).toBe(1);
    expect(rp2.linux.syncs).toBe(2);
  });
  it('explains a TTL hint on a non-leaf invalidation (kernels before 6833b8f2e199)', () => {
    const rp = replanOf([va(1, 0x200000, { scale: 9, ttl: 3, leaf: 0 }), sync()]);
    expect(rp.rows[0]).toMatchObject({ identical: false, difference: 'non-leaf-ttl', linuxCommands: 1 });
  });
  it('calls a non-leaf 33-page stream without Linux’s extra page illegal (SCALE=NUM=TTL=0)', () => {
    // 33 pages non-leaf: SCALE=0 NUM=0 TTL=0 (reserved!) then SCALE=5; Linux plans 34 pages.
    const items = [[0x12, 1 << 16, 0x10000400, 0] as Raw, va(1, 0x10001000, { scale: 5, ttl: 0, leaf: 0 }), sync()];
    // Such a stream cannot be legal: its first command is the reserved SCALE=NUM=TTL=0 encoding.
    const rep = run(items, { replan: true });
    expect(rep.findings.map((f) => f.rule)).toEqual(['illegal']);
    expect(rep.findings[0]!.index).toBe(0);
  });
  it('explains a different NUM/SCALE split of the same span', () => {
    const rp = replanOf([va(1, 0x10000, { num: 1, scale: 0 }), sync()]); // 2 pages as NUM=1; Linux: SCALE=1
    expect(rp.rows[0]).toMatchObject({ identical: false, difference: 'split' });
  });
  it('explains the whole-tag threshold Linux 7.1+ applies without range invalidation', () => {
    const perPage = Array.from({ length: 512 }, (_, k) => va(1, 0x40000000 + k * 0x1000, { tg: 0, ttl: 0 }));
    const rp = replanOf([...perPage, sync()]);
    expect(rp.rows).toHaveLength(1);
    expect(rp.rows[0]).toMatchObject({
      identical: false,
      difference: 'linux-whole-tag',
      streamCommands: 512,
      linuxCommands: 1,
    });
    // 511 pages stay a per-page loop in Linux too.
    expect(replanOf([...perPage.slice(0, 511), sync()]).rows[0]!.identical).toBe(true);
  });
  it('plans whole-ASID commands as requests for everything', () => {
    const rp = replanOf([nhAsid(4), sync()]);
    expect(rp.rows[0]).toMatchObject({ identical: true, size: 0, linuxCommands: 1, linuxSyncs: 1 });
  });
  it('shows the tlbi policy beside linux (2 MiB of blocks unmapped without range invalidation)', () => {
    // Without RIL Linux invalidates a 2 MiB-granule leaf range of 4 MiB with two per-block commands; tlbi too.
    const rp = replanOf([va(1, 0x40000000, { tg: 0, ttl: 0 }), va(1, 0x40200000, { tg: 0, ttl: 0 }), sync()]);
    expect(rp.rows[0]).toMatchObject({ granule: 0x200000, identical: true, linuxCommands: 2 });
    expect(rp.rows[0]!.tlbiCommands).toBeGreaterThan(0);
  });
});
