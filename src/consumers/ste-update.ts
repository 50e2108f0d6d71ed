/**
 * Live STE and CD updates as Linux's arm-smmu-v3 driver makes them (its entry writer, facts only):
 *
 * - Each structure is a few 64-bit qwords, and the configuration in force decides which fields the SMMU
 *   uses. Fields the current configuration does not use may be written at any time.
 * - Hitless update: when the fields used by both the current and the target configuration differ in one
 *   qword only, the driver first writes the target's fields the current configuration ignores (CFGI +
 *   CMD_SYNC if that changed anything), then the one critical qword, which switches the SMMU from the old
 *   configuration to the new in one single-copy-atomic write (CFGI + CMD_SYNC), then clears what only the old
 *   configuration used (CFGI + CMD_SYNC if that changed anything). Traffic never sees a mixture.
 * - Breaking update: when two or more qwords differ, the structure is made invalid first (V = 0, CFGI +
 *   CMD_SYNC: IHI 0070 §3.21.3.1, a live structure must not be changed in two writes), the other qwords are
 *   written (CFGI + CMD_SYNC), then qword 0 with V = 1 (CFGI + CMD_SYNC).
 * - The CFGI is CFGI_STE (Leaf = 1) for an STE; CFGI_CD (Leaf = 1) for a CD, for every StreamID of the
 *   master (a CD cached through each STE must go, §4.3.3). Every step waits for its CMD_SYNC, so the SMMU
 *   has dropped the old copy before the next write can be observed.
 *
 * The model's typed configurations carry no bits, so each field is a (qword, name, value) triple; an
 * invalid STE (the model's abort) uses V and Config only, an invalid CD uses V only.
 */
import { makeCommand, type Command } from '../cmdq/index.js';
import type { ContextDescriptor, StreamConfig } from '../smmu/streams.js';
import type { TableConfig } from '../smmu/walker.js';

type Field = readonly [qword: number, name: string, value: string | number];

/** What one step writes: the old configuration (only fields it ignores), invalid, or the target. */
export type StepState = 'old' | 'invalid' | 'new';

const table = (t: TableConfig | undefined): string => (t === undefined ? '-' : `${t.root}/${t.granuleLog2}/${t.ias}`);

/** The fields an STE uses (qword, name, value), given its configuration. */
export function steFields(st: StreamConfig | null): Field[] {
  if (st === null) return [[0, 'Config', 'abort']];
  const f: Field[] = [[0, 'Config', st.mode]];
  if (st.mode === 'bypass') return f;
  f.push([1, 'EATS', st.ats ? 1 : 0]);
  if (st.mode === 'stage1' || st.mode === 'nested') {
    // The master's CD table (one per master, as Linux's), its format and S1DSS: fixed for a stream.
    f.push([0, 'S1ContextPtr', 'cd-table'], [1, 'S1DSS', 'ssid0'], [1, 'STRW', st.regime ?? 'nh']);
  }
  if (st.mode === 'stage2' || st.mode === 'nested') {
    const s2 = st.s2;
    f.push([2, 'S2VMID', st.vmid], [2, 'VTCR', s2 === undefined ? '-' : `${s2.granuleLog2}/${s2.ias}`]);
    f.push([3, 'S2TTB', s2 === undefined ? -1 : s2.root]);
  }
  return f;
}

/** The fields a CD uses (qword, name, value). */
export function cdFields(cd: ContextDescriptor | null): Field[] {
  if (cd === null) return [[0, 'V', 0]];
  return [
    [0, 'V', 1],
    [0, 'ASID', cd.asid],
    [0, 'TCR', `${cd.table.granuleLog2}/${cd.table.ias}`],
    [1, 'TTB0', table(cd.table)],
  ];
}

/**
 * The writes of one update from `cur` to `target` fields, each followed by CFGI + CMD_SYNC: [] when nothing
 * the SMMU uses changes; hitless: ['old'?, 'new', 'new'?]; breaking: ['invalid', 'invalid', 'new'].
 */
export function updateSteps(cur: readonly Field[], target: readonly Field[]): StepState[] {
  const curVal = new Map<string, string | number>();
  for (const [, n, v] of cur) curVal.set(n, v);
  const tgtNames = new Set(target.map(([, n]) => n));
  const diff = new Set<number>();
  let preWrite = false;
  for (const [q, n, v] of target) {
    if (!curVal.has(n)) preWrite = true;
    else if (curVal.get(n) !== v) diff.add(q);
  }
  if (diff.size === 0 && !preWrite && cur.every(([, n]) => tgtNames.has(n))) return [];
  if (diff.size <= 1) {
    const steps: StepState[] = [];
    if (preWrite) steps.push('old');
    steps.push('new');
    if (cur.some(([, n]) => !tgtNames.has(n))) steps.push('new');
    return steps;
  }
  return ['invalid', 'invalid', 'new'];
}

export const cfgiSte = (sid: number): Command => makeCommand('CFGI_STE', { sid, leaf: 1 });
export const cfgiCd = (sid: number, ssid: number): Command => makeCommand('CFGI_CD', { sid, ssid, leaf: 1 });

/** Is this a configuration that points at a CD table? */
export function usesCds(st: StreamConfig | null): boolean {
  return st !== null && (st.mode === 'stage1' || st.mode === 'nested');
}
