/**
 * The cache contents around one change of the simulate view: per SMMU, the commands it received (decoded,
 * with their two 64-bit words) and, per cache (TLB, walk cache, ATC), the entries overlapping the change's
 * range before the commands and after the last CMD_SYNC. Entries the commands removed are struck through,
 * entries that came back while the commands ran are marked, and entries the stale-translation checker
 * reported after the commands are red, with its reason. Everything shown is what the core's workload
 * captured (src/sim/workload.ts, src/smmu/snapshot.ts); this module only lays it out and steps between
 * changes by re-running the same seeded workload.
 */
import './cache-view.css';
import { hexAddr } from '../../src/bits.js';
import type { StaleReport } from '../../src/smmu/checker.js';
import { staleReportKey, type AtcRow, type CacheListing, type TlbRow, type WalkRow } from '../../src/smmu/snapshot.js';
import {
  runSimulation,
  type CapturedCommand,
  type ChangeCapture,
  type SimConfig,
  type SmmuCapture,
} from '../../src/sim/workload.js';
import { h, type Child } from './dom.js';
import { sizeText } from './plan-view.js';

/** Rows shown per table at most (stale rows always are); the rest are counted in a last row. */
export const MaxRowsShown = 60;

type Row = TlbRow | WalkRow | AtcRow;
type RowState = 'kept' | 'removed' | 'new' | 'stale';

interface Column<R> {
  readonly head: string;
  readonly title?: string;
  readonly cell: (r: R) => string;
  /** Shown only when some row has a value (e.g. the IPA of nested entries). */
  readonly optional?: (r: R) => boolean;
}

const stageText = (kind: string, regime: string): string =>
  (kind === 'stage1' ? 'stage 1' : kind === 'stage2' ? 'stage 2' : 'nested') +
  (regime === 'NS-EL1' || kind === 'stage2' ? '' : ` ${regime}`);

/** What TLB and walk-cache rows share: the tag (stage, VMID, ASID), the level, the granule and the input. */
type TaggedRow = Pick<TlbRow, 'kind' | 'regime' | 'vmid' | 'asid' | 'level' | 'granule' | 'input'>;

/** The first columns of the TLB and walk-cache tables; `levelTitle` says which level the row gives. */
function taggedColumns(levelTitle: string): Column<TaggedRow>[] {
  return [
    { head: 'stage', cell: (r) => stageText(r.kind, r.regime) },
    { head: 'VMID', cell: (r) => String(r.vmid) },
    { head: 'ASID', cell: (r) => String(r.asid) },
    { head: 'level', title: levelTitle, cell: (r) => String(r.level) },
    { head: 'granule', cell: (r) => sizeText(r.granule) },
    { head: 'input', cell: (r) => hexAddr(r.input) },
  ];
}

const TlbColumns: Column<TlbRow>[] = [
  ...taggedColumns('level of the leaf (stage 1 for nested entries)'),
  { head: 'size', cell: (r) => sizeText(r.size) },
  { head: 'output', cell: (r) => hexAddr(r.output) },
  {
    head: 'IPA',
    title: 'nested entries: the IPA of the input (stage-2 leaf level)',
    cell: (r) => (r.ipa === null ? '' : `${hexAddr(r.ipa)} (L${String(r.s2Level)})`),
    optional: (r) => r.ipa !== null,
  },
  { head: 'perm', cell: (r) => r.perm },
];

const WalkColumns: Column<WalkRow>[] = [
  ...taggedColumns('level of the table descriptor (its table is at level + 1)'),
  { head: 'span', cell: (r) => sizeText(r.size) },
  { head: 'next table', cell: (r) => hexAddr(r.next) },
];

const AtcColumns: Column<AtcRow>[] = [
  { head: 'SID', cell: (r) => hexAddr(r.sid) },
  { head: 'SSID', cell: (r) => String(r.ssid) },
  { head: 'input', cell: (r) => hexAddr(r.input) },
  { head: 'size', cell: (r) => sizeText(r.size) },
  { head: 'output', cell: (r) => hexAddr(r.output) },
  {
    head: 'IPA',
    cell: (r) => (r.ipa === null ? '' : hexAddr(r.ipa)),
    optional: (r) => r.ipa !== null,
  },
  { head: 'perm', cell: (r) => r.perm },
];

const StateText: Record<RowState, string> = { kept: '', removed: 'removed', new: 'refilled', stale: 'STALE' };
const StateTitle: Record<RowState, string> = {
  kept: 'still cached, and agrees with the live tables',
  removed: 'removed by the commands',
  new: 'filled again while the commands ran (device traffic), and agrees with the live tables',
  stale: 'still cached after the last CMD_SYNC, but the live tables say otherwise',
};

/** The output a row translates to (or points at), for the page's data attributes. */
function outputOf(r: Row): number {
  return 'next' in r ? r.next : r.output;
}

/** A row's fields as one comparable text (same key and same text: the same entry). */
const sameText = (r: Row): string => JSON.stringify(r);

function table<R extends Row>(
  cache: string,
  phase: 'before' | 'after',
  caption: readonly Child[],
  listing: CacheListing<R>,
  columns: Column<R>[],
  stateOf: (r: R) => RowState,
  staleBy: ReadonlyMap<string, StaleReport>,
): HTMLElement {
  const cols = columns.filter((c) => c.optional === undefined || listing.entries.some(c.optional));
  const rows = listing.entries;
  // Stale rows are always shown; the others up to the cap, in address order.
  let shown = rows;
  if (rows.length > MaxRowsShown) {
    let room = MaxRowsShown - rows.filter((r) => stateOf(r) === 'stale').length;
    shown = rows.filter((r) => stateOf(r) === 'stale' || room-- > 0);
  }
  const hidden = listing.matching - shown.length;
  const withReason = shown.some((r) => staleBy.has(r.key) && stateOf(r) === 'stale');
  const width = cols.length + (withReason ? 2 : 1);
  const body: HTMLElement[] = [];
  for (const r of shown) {
    const st = stateOf(r);
    const rep = st === 'stale' ? staleBy.get(r.key) : undefined;
    body.push(
      h(
        'tr',
        {
          class: `cap-row ${st}`,
          'data-key': r.key,
          'data-state': st,
          'data-input': hexAddr(r.input),
          'data-output': hexAddr(outputOf(r)),
          ...(rep ? { 'data-stale-address': rep.address, 'data-cached': rep.cached } : {}),
        },
        ...cols.map((c) => h('td', {}, c.cell(r))),
        h(
          'td',
          { class: 'state', title: StateTitle[st] },
          StateText[st] ? h('span', { class: 'badge' }, StateText[st]) : '',
        ),
        withReason
          ? h(
              'td',
              { class: 'reason' },
              ...(rep
                ? [
                    h('span', { class: 'k' }, 'at '),
                    rep.address,
                    h('span', { class: 'k' }, ' cached '),
                    rep.cached,
                    h('span', { class: 'k' }, ', live tables: '),
                    h('span', { class: 'live' }, rep.live),
                  ]
                : []),
            )
          : null,
      ),
    );
  }
  if (hidden > 0)
    body.push(
      h(
        'tr',
        { class: 'cap-more' },
        h('td', { colspan: width }, `… ${hidden} more entr${hidden === 1 ? 'y' : 'ies'} in the window not shown`),
      ),
    );
  if (rows.length === 0)
    body.push(h('tr', { class: 'cap-empty' }, h('td', { colspan: width }, 'no entry in the window')));
  return h(
    'table',
    { class: `cap-table ${phase}`, 'data-cache': cache, 'data-phase': phase },
    h('caption', {}, ...caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...cols.map((c) => h('th', { title: c.title }, c.head)),
        h('th', { class: 'state' }, ''),
        withReason ? h('th', { class: 'reason' }, 'why it is stale (the checker)') : null,
      ),
    ),
    h('tbody', {}, ...body),
  );
}

function cacheBlock<R extends Row>(
  cache: 'tlb' | 'walk' | 'atc',
  title: string,
  before: CacheListing<R>,
  after: CacheListing<R>,
  columns: Column<R>[],
  staleBy: ReadonlyMap<string, StaleReport>,
): HTMLElement {
  const afterText = new Set(after.entries.map(sameText));
  const beforeText = new Set(before.entries.map(sameText));
  const beforeState = (r: R): RowState => (afterText.has(sameText(r)) ? 'kept' : 'removed');
  const afterState = (r: R): RowState => (staleBy.has(r.key) ? 'stale' : beforeText.has(sameText(r)) ? 'kept' : 'new');
  const removed = before.entries.filter((r) => beforeState(r) === 'removed').length;
  const stale = after.entries.filter((r) => afterState(r) === 'stale').length;
  const count = (l: CacheListing<R>): string =>
    `${l.matching} entr${l.matching === 1 ? 'y' : 'ies'} in the window (${l.total} in the ${title})`;
  return h(
    'div',
    { class: 'cap-cache', 'data-cache': cache },
    h(
      'h4',
      {},
      title,
      h(
        'span',
        { class: 'sub' },
        ` — ${removed} removed by the commands` + (stale ? `, ` : ''),
        stale ? h('b', { class: 'bad' }, `${stale} stale after them`) : '',
      ),
    ),
    table(
      cache,
      'before',
      [h('b', {}, 'before the commands'), `: ${count(before)}`],
      before,
      columns,
      beforeState,
      staleBy,
    ),
    table(
      cache,
      'after',
      [h('b', {}, 'after the last CMD_SYNC'), `: ${count(after)}`],
      after,
      columns,
      afterState,
      staleBy,
    ),
  );
}

/** Commands listed in full up to this many; longer lists show their head and fold the rest. */
const MaxCommandsShown = 24;

function commandList(cmds: readonly CapturedCommand[]): HTMLElement {
  const item = (c: CapturedCommand, i: number): HTMLElement =>
    h(
      'li',
      { class: c.text.startsWith('CMD_SYNC') ? 'sync' : '' },
      h('span', { class: 'n' }, String(i + 1)),
      h('code', { class: 'text' }, c.text),
      h('code', { class: 'words', title: 'the entry as two 64-bit words' }, `${c.words[0]} ${c.words[1]}`),
    );
  const head = cmds.slice(0, MaxCommandsShown);
  const rest = cmds.slice(MaxCommandsShown);
  return h(
    'div',
    {},
    h('ol', {}, ...head.map(item)),
    rest.length
      ? h(
          'details',
          { class: 'cap-more-cmds' },
          h('summary', {}, `${rest.length} more command${rest.length === 1 ? '' : 's'}`),
          h('ol', {}, ...rest.map((c, i) => item(c, i + MaxCommandsShown))),
        )
      : null,
  );
}

function smmuBlock(m: SmmuCapture, open: boolean): HTMLElement {
  const staleBy = new Map<string, StaleReport>();
  for (const r of m.stale) if (!staleBy.has(staleReportKey(r))) staleBy.set(staleReportKey(r), r);
  const listed = new Set([...m.after.tlb.entries, ...m.after.walk.entries, ...m.after.atc.entries].map((r) => r.key));
  const unlisted = m.stale.filter((r) => !listed.has(staleReportKey(r)));
  return h(
    'details',
    { class: 'cap-smmu', open, 'data-smmu': m.smmu },
    h(
      'summary',
      {},
      `SMMU ${m.smmu}: ${m.commands.length} command${m.commands.length === 1 ? '' : 's'}, `,
      m.stale.length
        ? h('span', { class: 'bad' }, `${m.stale.length} stale translation${m.stale.length === 1 ? '' : 's'}`)
        : 'nothing stale',
    ),
    h(
      'div',
      { class: 'cap-cmds' },
      h('div', { class: 'k' }, 'commands the SMMU received, in queue order'),
      m.commands.length ? commandList(m.commands) : h('p', { class: 'hint' }, 'none'),
    ),
    cacheBlock('tlb', 'TLB', m.before.tlb, m.after.tlb, TlbColumns, staleBy),
    cacheBlock('walk', 'walk cache', m.before.walk, m.after.walk, WalkColumns, staleBy),
    cacheBlock('atc', 'ATC', m.before.atc, m.after.atc, AtcColumns, staleBy),
    ...unlisted.map((r) =>
      h(
        'p',
        { class: 'cap-unlisted bad' },
        `stale ${r.cache} entry outside the window: ${JSON.stringify(r.entry)} at ${r.address} → ${r.cached}; live: ${r.live}`,
      ),
    ),
  );
}

/**
 * The section for one captured change, with buttons that step to the previous / next change and to the
 * changes that left stale translations (each step re-runs the same seeded workload with another capture).
 */
export function captureSection(cfg: SimConfig, cap: ChangeCapture | null): HTMLElement {
  const section = h('section', { id: 'sim-caches', class: 'sim-caches' });
  const show = (c: ChangeCapture | null): void => {
    section.replaceChildren(...captureContent(c, step));
    if (c) {
      section.dataset.change = String(c.change);
      section.dataset.op = String(c.op);
    }
  };
  const step = (change: number): void => {
    try {
      show(runSimulation({ ...cfg, capture: { change } }).capture ?? null);
    } catch (e) {
      section.replaceChildren(h('div', { class: 'banner' }, `internal error: ${(e as Error).message}`));
    }
  };
  show(cap);
  return section;
}

/** The SMMU shown open: the first with a stale translation, else the first. */
function openSmmu(c: ChangeCapture): number {
  const i = c.smmus.findIndex((m) => m.stale.length > 0);
  return i < 0 ? 0 : i;
}

function captureContent(c: ChangeCapture | null, step: (change: number) => void): HTMLElement[] {
  if (c === null)
    return [
      h('h3', {}, 'Cache contents'),
      h('p', { class: 'hint' }, 'The run unmapped nothing, so no invalidation was issued: run more operations.'),
    ];
  const button = (id: string, text: string, to: number | undefined, title: string): HTMLElement => {
    const b = h('button', { type: 'button', id, title, disabled: to === undefined }, text);
    if (to !== undefined) b.addEventListener('click', () => step(to));
    return b;
  };
  const prevStale = [...c.staleChanges].reverse().find((k) => k < c.change);
  const nextStale = c.staleChanges.find((k) => k > c.change);
  const anyStale = c.smmus.some((m) => m.stale.length > 0);
  return [
    h(
      'h3',
      {},
      `Cache contents around change ${c.change} of ${c.changes}`,
      h('span', { class: 'sub' }, ` — operation ${c.op}: unmap on domain ${c.domain} (stage ${c.stage})`),
    ),
    h(
      'div',
      { class: 'cap-nav' },
      button('cap-prev', '◀ previous change', c.change > 0 ? c.change - 1 : undefined, 'the change before this one'),
      button('cap-next', 'next change ▶', c.change + 1 < c.changes ? c.change + 1 : undefined, 'the change after it'),
      button('cap-prev-stale', '◀ stale', prevStale, 'the previous change that left a stale translation'),
      button('cap-next-stale', 'stale ▶', nextStale, 'the next change that left a stale translation'),
      h(
        'span',
        { class: 'hint' },
        c.staleChanges.length
          ? `${c.staleChanges.length} change${c.staleChanges.length === 1 ? '' : 's'} left stale translations` +
              (c.staleChanges.length >= 1000 ? ' (first 1000 counted)' : '')
          : 'no change left a stale translation; shown by default: the last change',
      ),
    ),
    h(
      'p',
      { class: `cap-range ${anyStale ? 'bad' : ''}` },
      'Changed input range ',
      h('code', {}, `[${hexAddr(c.range.first)}, ${hexAddr(c.range.last)}]`),
      c.viaIpa ? ' (an IPA range: nested entries are listed by their IPA too)' : '',
      '; listed: the entries overlapping ',
      h('code', {}, `[${hexAddr(c.window.first)}, ${hexAddr(c.window.last)}]`),
      ' (the range and a margin, for context: the checker judges the entries that overlap the range).',
    ),
    ...c.smmus.map((m, i) => smmuBlock(m, i === openSmmu(c))),
  ];
}
