/**
 * The invalidation-target array: the merge / unref / purge sequence of Linux's own unit test for
 * arm_smmu_invs (as recorded in the shared reference notes), and property tests of the three operations
 * against a plain multiset reference.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  INV_TYPES,
  compareInv,
  emptyInvs,
  isAtsType,
  mergeInvs,
  purgeInvs,
  unrefInvs,
  type InvKey,
  type Invs,
} from '../src/tlbi/index.js';

// The kunit's entries on one SMMU: V1 = S2_VMID 1, V1c = S2_VMID_S1_CLEAR 1 (a nesting parent), An = ATS
// with StreamID n; the type order puts them in the order the kunit lists the ids.
const V1: InvKey = { smmu: 0, type: 'S2_VMID', id: 1 };
const V1c: InvKey = { smmu: 0, type: 'S2_VMID_S1_CLEAR', id: 1 };
const A = (id: number): InvKey => ({ smmu: 0, type: 'ATS', id });

function view(invs: Invs): { ids: number[]; users: number[] } {
  const ids: number[] = [];
  const users: number[] = [];
  for (let i = 0; i < invs.count; i++) {
    ids.push(invs.inv[i]!.id);
    users.push(invs.inv[i]!.users);
  }
  return { ids, users };
}

describe('invs: the Linux kunit sequence', () => {
  it('merge, merge, unref, merge, unref, purge', () => {
    const a = mergeInvs(emptyInvs(), [V1, V1c, A(3)]);
    expect(view(a)).toEqual({ ids: [1, 1, 3], users: [1, 1, 1] });

    const b = mergeInvs(a, [V1, A(4), A(5)]);
    expect(view(b)).toEqual({ ids: [1, 1, 3, 4, 5], users: [2, 1, 1, 1, 1] });
    expect(view(a)).toEqual({ ids: [1, 1, 3], users: [1, 1, 1] }); // the old array is untouched

    const r1 = unrefInvs(b, [V1, A(4), A(5)]);
    expect(view(b)).toEqual({ ids: [1, 1, 3], users: [1, 1, 1] }); // trailing trash cut
    expect(b.numTrashes).toBe(0);
    expect(r1.trashed.map((e) => e.id)).toEqual([4, 5]);
    expect(r1.warnings).toEqual([]);

    const c = mergeInvs(b, [V1, A(5), A(6)]);
    expect(view(c)).toEqual({ ids: [1, 1, 3, 5, 6], users: [2, 1, 1, 1, 1] });

    const r2 = unrefInvs(c, [V1, V1c, A(3)]);
    expect(view(c)).toEqual({ ids: [1, 1, 3, 5, 6], users: [1, 0, 0, 1, 1] });
    expect(c.numTrashes).toBe(2);
    expect(r2.trashed.map((e) => [e.type, e.id])).toEqual([
      ['S2_VMID_S1_CLEAR', 1],
      ['ATS', 3],
    ]);

    const d = purgeInvs(c);
    expect(d).not.toBeNull();
    expect(view(d!)).toEqual({ ids: [1, 5, 6], users: [1, 1, 1] });
    expect(purgeInvs(d!)).toBeNull(); // nothing to purge
  });

  it('unref of a missing entry is a warning, not an exception; re-merging trash revives it with users=1', () => {
    const a = mergeInvs(emptyInvs(), [V1, A(3), A(4)]);
    const r = unrefInvs(a, [A(9), A(3)]);
    expect(r.warnings.length).toBe(1);
    expect(r.warnings[0]).toMatch(/ATS, id 9/);
    expect(view(a)).toEqual({ ids: [1, 3, 4], users: [1, 0, 1] });
    expect(unrefInvs(a, [A(3)]).warnings.length).toBe(1); // trash is not a live entry
    const b = mergeInvs(a, [A(3)]);
    expect(view(b)).toEqual({ ids: [1, 3, 4], users: [1, 1, 1] });
  });

  it('sorts by SMMU, type, id, then SubstreamID for ATS types only; has_ats', () => {
    const a = mergeInvs(emptyInvs(), [
      { smmu: 0, type: 'ATS', id: 10, ssid: 3 },
      { smmu: 0, type: 'ATS', id: 10, ssid: 1 },
      { smmu: 0, type: 'ATS', id: 10, ssid: 2 },
      { smmu: 0, type: 'S1_ASID', id: 2 },
    ]);
    expect(a.live().map((e) => [e.type, e.id, e.ssid])).toEqual([
      ['S1_ASID', 2, 0],
      ['ATS', 10, 1],
      ['ATS', 10, 2],
      ['ATS', 10, 3],
    ]);
    expect(a.hasAts).toBe(true);
    expect(mergeInvs(emptyInvs(), [V1, V1c]).hasAts).toBe(false);
  });

  it('S1_ASID_NESTED sorts between S1_ASID and S2_VMID, keyed by (id, vmid); other types keep vmid 0', () => {
    const a = mergeInvs(emptyInvs(), [
      { smmu: 0, type: 'S2_VMID', id: 1 },
      { smmu: 0, type: 'S1_ASID_NESTED', id: 2, vmid: 9 },
      { smmu: 0, type: 'S1_ASID_NESTED', id: 2, vmid: 3 },
      { smmu: 0, type: 'S1_ASID_NESTED', id: 1, vmid: 9 },
      { smmu: 0, type: 'S1_ASID_NESTED', id: 2, vmid: 3 },
      { smmu: 0, type: 'S1_ASID', id: 7, vmid: 5 },
    ]);
    expect(a.live().map((e) => [e.type, e.id, e.vmid, e.users])).toEqual([
      ['S1_ASID', 7, 0, 1],
      ['S1_ASID_NESTED', 1, 9, 1],
      ['S1_ASID_NESTED', 2, 3, 2],
      ['S1_ASID_NESTED', 2, 9, 1],
      ['S2_VMID', 1, 0, 1],
    ]);
    const r = unrefInvs(a, [
      { smmu: 0, type: 'S1_ASID_NESTED', id: 2, vmid: 9 },
      { smmu: 0, type: 'S1_ASID_NESTED', id: 2, vmid: 4 },
    ]);
    expect(r.trashed.map((e) => [e.id, e.vmid])).toEqual([[2, 9]]);
    expect(r.warnings).toEqual(['unref of {smmu 0, S1_ASID_NESTED, id 2 vmid 4}: no such entry']);
  });
});

// ---------------------------------------------------------------- properties against a multiset

const keyArb: fc.Arbitrary<InvKey> = fc
  .record({
    smmu: fc.integer({ min: 0, max: 2 }),
    type: fc.constantFrom(...INV_TYPES),
    id: fc.integer({ min: 0, max: 4 }),
    ssid: fc.integer({ min: 0, max: 2 }),
    vmid: fc.integer({ min: 0, max: 2 }),
  })
  .map((k) => ({ ...k, ssid: k.type === 'ATS' ? k.ssid : 0, vmid: k.type === 'S1_ASID_NESTED' ? k.vmid : 0 }));

const opArb = fc.oneof(
  fc.record({ op: fc.constant('merge' as const), keys: fc.array(keyArb, { maxLength: 6 }) }),
  fc.record({ op: fc.constant('unref' as const), keys: fc.array(keyArb, { maxLength: 6 }) }),
  fc.record({ op: fc.constant('purge' as const), keys: fc.constant([] as InvKey[]) }),
);

/** The reference: a map key → count, with keys written out by hand (not with compareInv). */
function refKey(k: InvKey): string {
  return `${k.smmu}|${k.type}|${k.id}|${isAtsType(k.type) ? (k.ssid ?? 0) : 0}|${k.type === 'S1_ASID_NESTED' ? (k.vmid ?? 0) : 0}`;
}

function snapshot(invs: Invs): { key: string; users: number }[] {
  const out: { key: string; users: number }[] = [];
  for (let i = 0; i < invs.count; i++) out.push({ key: refKey(invs.inv[i]!), users: invs.inv[i]!.users });
  return out;
}

describe('invs: properties against a multiset', () => {
  it('live entries equal the multiset; the array stays sorted and unique; old arrays never change', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => {
        let invs = emptyInvs();
        const ref = new Map<string, number>();
        const held: { invs: Invs; snap: ReturnType<typeof snapshot> }[] = [];
        for (const { op, keys } of ops) {
          if (op === 'merge') {
            const before = snapshot(invs);
            const next = mergeInvs(invs, keys);
            expect(snapshot(invs)).toEqual(before); // merge does not touch its input
            held.push({ invs, snap: before });
            invs = next;
            for (const k of keys) ref.set(refKey(k), (ref.get(refKey(k)) ?? 0) + 1);
            expect(invs.numTrashes).toBe(0);
          } else if (op === 'unref') {
            const r = unrefInvs(invs, keys);
            let missing = 0;
            const trashed: string[] = [];
            const sorted = [...keys].sort((a, b) => (refKey(a) < refKey(b) ? -1 : 1));
            for (const k of sorted) {
              const n = ref.get(refKey(k)) ?? 0;
              if (n === 0) missing++;
              else if (n === 1) {
                ref.delete(refKey(k));
                trashed.push(refKey(k));
              } else ref.set(refKey(k), n - 1);
            }
            expect(r.warnings.length).toBe(missing);
            expect(r.trashed.map(refKey).sort()).toEqual(trashed.sort());
          } else {
            const p = purgeInvs(invs);
            if (invs.numTrashes === 0) expect(p).toBeNull();
            else {
              expect(p).not.toBeNull();
              held.push({ invs, snap: snapshot(invs) });
              invs = p!;
              expect(invs.numTrashes).toBe(0);
            }
          }
          // Live entries = the multiset.
          const live = new Map(invs.live().map((e) => [refKey(e), e.users]));
          expect(live).toEqual(ref);
          // Sorted, strictly increasing keys; trash counted; no trailing trash.
          for (let i = 1; i < invs.count; i++) expect(compareInv(invs.inv[i - 1]!, invs.inv[i]!)).toBeLessThan(0);
          let trash = 0;
          for (let i = 0; i < invs.count; i++) if (invs.inv[i]!.users === 0) trash++;
          expect(invs.numTrashes).toBe(trash);
          if (invs.count > 0) expect(invs.inv[invs.count - 1]!.users).toBeGreaterThan(0);
          expect(invs.hasAts).toBe(invs.inv.some((e) => isAtsType(e.type)));
        }
        // Arrays replaced by merge/purge are only ever changed by unref (which we stopped calling on them).
        for (const h of held) expect(snapshot(h.invs)).toEqual(h.snap);
      }),
      { numRuns: 300 },
    );
  });
});
