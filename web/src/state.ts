/**
 * The page state and its text form, a URL query string: every input is kept as the text the user typed (so a
 * link reproduces an invalid case too), and the whole state round-trips through that text so that a case can
 * be linked in a review (share.ts decides whether the link carries it as `?…` or compressed in `#z=…`).
 */
import type { Policy } from '../../src/tlbi/plan.js';

export const INV_TYPES = ['S1_ASID', 'S1_ASID_NESTED', 'S2_VMID', 'S2_VMID_S1_CLEAR', 'ATS', 'ATS_FULL'] as const;
export type InvType = (typeof INV_TYPES)[number];

export const PGSIZES = [4096, 16384, 65536] as const;
export type Pgsize = (typeof PGSIZES)[number];

export const VIEWS = ['plan', 'decode', 'simulate'] as const;
export type View = (typeof VIEWS)[number];

/** One row of the invs editor. `extra` is the VMID of an S1_ASID_NESTED target or the SSID of an ATS target. */
export interface InvRow {
  smmu: string;
  type: InvType;
  id: string;
  extra: string;
}

export interface PageState {
  view: View;
  start: string;
  /** Whether the range is given as a size or as an inclusive last address. */
  by: 'size' | 'last';
  size: string;
  last: string;
  pgsize: Pgsize;
  /** Leaf size (bytes) of the Linux-style request: a page or block size of pgsize. */
  granule: number;
  /** Which description the user edits: the Linux request (leaf flag) or the tlbi description (levels). */
  desc: Policy;
  leaf: boolean;
  leafLevels: number[];
  tableLevels: number[];
  ril: boolean;
  e2h: boolean;
  forceSync: boolean;
  /** IDR5.DS: the SMMUs take the 6-bit SCALE (up to 39). */
  ds: boolean;
  invs: InvRow[];
  /** Selected command: `<policy>.<index>`, or empty. */
  sel: string;
  /** Decode view: the pasted hex words, strict/lax and the queue. */
  words: string;
  lax: boolean;
  queue: 'non-secure' | 'secure';
  /** Decode view: show only illegal entries (like `decode --errors-only`). */
  errorsOnly: boolean;
  /** Simulate view (as typed; checked when run). */
  simStage: '1' | '2' | 'nested';
  simGranule: Pgsize;
  simPolicy: Policy;
  simSmmus: string;
  simOps: string;
  simSeed: string;
  simRil: boolean;
  simAts: boolean;
  simMode: 'adversarial' | 'generous';
  /** A fault name of src/sim/faults.ts, or '' for none. */
  simFault: string;
}

export function defaultState(): PageState {
  return {
    view: 'plan',
    start: '0x10000000',
    by: 'size',
    size: '0x43000',
    last: '',
    pgsize: 4096,
    granule: 4096,
    desc: 'linux',
    leaf: true,
    leafLevels: [3],
    tableLevels: [],
    ril: true,
    e2h: false,
    forceSync: false,
    ds: false,
    invs: [
      { smmu: '0', type: 'S1_ASID', id: '5', extra: '0' },
      { smmu: '0', type: 'ATS', id: '0x10', extra: '0' },
    ],
    sel: '',
    words: '',
    lax: false,
    queue: 'non-secure',
    errorsOnly: false,
    simStage: '1',
    simGranule: 4096,
    simPolicy: 'linux',
    simSmmus: '2',
    simOps: '200',
    simSeed: '1',
    simRil: true,
    simAts: true,
    simMode: 'adversarial',
    simFault: '',
  };
}

function levels(text: string | null, fallback: number[]): number[] {
  if (text === null) return fallback;
  return [
    ...new Set(
      text
        .split(/[,\s]+/)
        .filter((t) => /^[0-3]$/.test(t))
        .map(Number),
    ),
  ].sort((a, b) => a - b);
}

function flag(text: string | null, fallback: boolean): boolean {
  if (text === null) return fallback;
  return text === '1' || text === 'true' || text === 'on';
}

function oneOf<T extends string | number>(value: T | null, allowed: readonly T[], fallback: T): T {
  return value !== null && allowed.includes(value) ? value : fallback;
}

function parseInvs(text: string | null, fallback: InvRow[]): InvRow[] {
  if (text === null) return fallback;
  if (text === '') return [];
  return text.split(',').map((row) => {
    const [smmu = '0', type = 'S1_ASID', id = '0', extra = '0'] = row.split(':').map((p) => decodeURIComponent(p));
    return { smmu, type: oneOf(type as InvType, INV_TYPES, 'S1_ASID'), id, extra };
  });
}

/** Read the state from a query string; anything missing or unknown takes its default. */
export function stateFromQuery(query: string): PageState {
  const q = new URLSearchParams(query);
  const d = defaultState();
  const pgsize = oneOf(Number(q.get('pgsize')) as Pgsize, PGSIZES, d.pgsize);
  const granule = Number(q.get('granule') ?? pgsize);
  return {
    view: oneOf(q.get('view') as View | null, VIEWS, d.view),
    start: q.get('start') ?? d.start,
    by: q.get('last') !== null && q.get('size') === null ? 'last' : 'size',
    size: q.get('size') ?? (q.get('last') !== null ? '' : d.size),
    last: q.get('last') ?? '',
    pgsize,
    granule: Number.isSafeInteger(granule) && granule > 0 ? granule : pgsize,
    desc: q.get('desc') === 'tlbi' ? 'tlbi' : 'linux',
    leaf: flag(q.get('leaf'), d.leaf),
    leafLevels: levels(q.get('ll'), d.leafLevels),
    tableLevels: levels(q.get('tl'), d.tableLevels),
    ril: flag(q.get('ril'), d.ril),
    e2h: flag(q.get('e2h'), d.e2h),
    forceSync: flag(q.get('fs'), d.forceSync),
    ds: flag(q.get('ds'), d.ds),
    invs: parseInvs(q.get('invs'), d.invs),
    sel: q.get('sel') ?? '',
    words: q.get('words') ?? '',
    lax: flag(q.get('lax'), d.lax),
    queue: q.get('queue') === 'secure' ? 'secure' : 'non-secure',
    errorsOnly: flag(q.get('eo'), d.errorsOnly),
    simStage: oneOf(q.get('sstage') as PageState['simStage'] | null, ['1', '2', 'nested'], d.simStage),
    simGranule: oneOf(Number(q.get('sgran')) as Pgsize, PGSIZES, d.simGranule),
    simPolicy: q.get('spol') === 'tlbi' ? 'tlbi' : 'linux',
    simSmmus: q.get('ssmmus') ?? d.simSmmus,
    simOps: q.get('sops') ?? d.simOps,
    simSeed: q.get('sseed') ?? d.simSeed,
    simRil: flag(q.get('sril'), d.simRil),
    simAts: flag(q.get('sats'), d.simAts),
    simMode: q.get('smode') === 'generous' ? 'generous' : 'adversarial',
    simFault: q.get('sfault') ?? d.simFault,
  };
}

/** Write the state as a query string (without the leading `?`). */
export function stateToQuery(st: PageState): string {
  const q = new URLSearchParams();
  q.set('view', st.view);
  q.set('start', st.start);
  if (st.by === 'size') q.set('size', st.size);
  else q.set('last', st.last);
  q.set('pgsize', String(st.pgsize));
  q.set('granule', String(st.granule));
  q.set('desc', st.desc);
  if (st.desc === 'linux') q.set('leaf', st.leaf ? '1' : '0');
  else {
    q.set('ll', st.leafLevels.join(','));
    q.set('tl', st.tableLevels.join(','));
  }
  q.set('ril', st.ril ? '1' : '0');
  q.set('e2h', st.e2h ? '1' : '0');
  q.set('fs', st.forceSync ? '1' : '0');
  // Written only when on: links made before the option existed stay the same.
  if (st.ds) q.set('ds', '1');
  q.set('invs', st.invs.map((r) => [r.smmu, r.type, r.id, r.extra].map(encodeURIComponent).join(':')).join(','));
  if (st.sel) q.set('sel', st.sel);
  if (st.words) q.set('words', st.words);
  if (st.lax) q.set('lax', '1');
  if (st.queue !== 'non-secure') q.set('queue', st.queue);
  if (st.errorsOnly) q.set('eo', '1');
  if (st.view === 'simulate') {
    q.set('sstage', st.simStage);
    q.set('sgran', String(st.simGranule));
    q.set('spol', st.simPolicy);
    q.set('ssmmus', st.simSmmus);
    q.set('sops', st.simOps);
    q.set('sseed', st.simSeed);
    q.set('sril', st.simRil ? '1' : '0');
    q.set('sats', st.simAts ? '1' : '0');
    q.set('smode', st.simMode);
    if (st.simFault) q.set('sfault', st.simFault);
  }
  return q.toString();
}
