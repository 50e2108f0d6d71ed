/**
 * The plans drawn: the two policies' statistics side by side, each plan's drawing (one bar per queue entry,
 * selected or hovered to show its decoded fields and words), the legend, and the way from a plan's words to
 * the command-queue view.
 */
import type { PlanStats } from '../../src/tlbi/index.js';
import { renderDecode } from './decode-view.js';
import { all, byId, h } from './dom.js';
import type { PlanPage } from './plan-page.js';
import { drawPlan, entryDetails, sharedWindow, type PlanModel, type Policy } from './plan-view.js';

function tlbiCount(st: PlanStats): number {
  let n = 0;
  for (const [name, k] of Object.entries(st.byKind)) if (name.startsWith('TLBI_')) n += k;
  return n;
}

/** The two policies side by side, from the core's statistics; the better figure of each row in green. */
export function compareTable(page: PlanPage, failed: Partial<Record<Policy, string>>): HTMLElement {
  const pol: Policy[] = ['linux', 'tlbi'];
  type Row = [string, (x: PlanStats) => number, string, ((x: PlanStats) => string)?];
  const rows: Row[] = [
    ['TLBI commands', tlbiCount, 'tlbis'],
    ['whole-tag TLBIs', (x) => x.wholeTag, 'whole'],
    ['ATC_INV', (x) => x.atcCommands, 'atcs'],
    ['CMD_SYNC', (x) => x.syncs, 'syncs'],
    ['queue entries', (x) => x.entries, 'entries'],
    ['TLB pages over-invalidated (4K)', (x) => x.pagesOverInvalidated, 'over'],
    [
      'ATC pages invalidated (4K)',
      (x) => x.atcPages,
      'atcpages',
      (x) => (x.atcWhole ? `${x.atcPages} + whole ATC ×${x.atcWhole}` : String(x.atcPages)),
    ],
  ];
  const head = h(
    'tr',
    {},
    h('th', {}, ''),
    ...pol.map((p) =>
      h(
        'th',
        { class: `pol-${p}` },
        p === 'linux' ? 'linux policy' : 'tlbi policy',
        h('div', { class: 'sub' }, page.models[p]?.request ?? failed[p] ?? ''),
      ),
    ),
  );
  const models = page.models;
  const body = rows.map(([label, get, key, show]) => {
    const vals = pol.map((p) => (models[p] ? get(models[p].stats) : undefined));
    const both = vals[0] !== undefined && vals[1] !== undefined;
    return h(
      'tr',
      { 'data-stat': key },
      h('th', {}, label),
      ...pol.map((p, k) => {
        const v = vals[k];
        const better = both && key !== 'whole' && v! < vals[1 - k]!;
        const text = v === undefined ? '—' : show ? show(models[p]!.stats) : String(v);
        return h('td', { 'data-policy': p, class: better ? 'better' : '' }, text);
      }),
    );
  });
  return h('table', { class: 'compare' }, h('thead', {}, head), h('tbody', {}, ...body));
}

function select(page: PlanPage, id: string): void {
  page.state.sel = page.state.sel === id ? '' : id;
  page.changed();
  renderDrawings(page);
}

function hover(page: PlanPage, id: string | null): void {
  page.hovered = id;
  renderDetails(page);
}

function findEntry(page: PlanPage, id: string): { m: PlanModel; e: PlanModel['entries'][number] } | null {
  const [p, i] = id.split('.');
  const m = page.models[p as Policy];
  const e = m?.entries[Number(i)];
  return m && e ? { m, e } : null;
}

function renderDetails(page: PlanPage): void {
  const box = byId('details');
  const hit = findEntry(page, page.hovered ?? page.state.sel);
  if (!hit) {
    box.replaceChildren(
      h('p', { class: 'hint' }, 'Hover over or click a bar to see its decoded fields and its two 64-bit words.'),
    );
    return;
  }
  box.replaceChildren(entryDetails(hit.m, hit.e));
}

export function renderDrawings(page: PlanPage): void {
  const { state, models } = page;
  const box = byId('drawings');
  const list = (['linux', 'tlbi'] as const).map((p) => models[p]).filter((m): m is PlanModel => m !== undefined);
  const win = sharedWindow(list);
  const hd = {
    selected: state.sel,
    select: (id: string): void => select(page, id),
    hover: (id: string | null): void => hover(page, id),
  };
  box.replaceChildren(
    ...list.map((m) =>
      h(
        'section',
        { class: `drawing pol-${m.policy}`, 'data-policy': m.policy },
        h(
          'h3',
          {},
          m.policy === 'linux' ? 'linux policy' : 'tlbi policy',
          h(
            'span',
            { class: 'sub' },
            m.policy === 'linux' ? ' — Linux arm_smmu_domain_inv_range' : ' — from the tlbi description',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'to-decode',
              'data-policy': m.policy,
              title: 'open these words in the command-queue view',
            },
            'words → command queue',
          ),
        ),
        drawPlan(m, win, hd),
      ),
    ),
    legend(),
  );
  for (const b of all<HTMLButtonElement>('.to-decode', box))
    b.addEventListener('click', () => {
      const m = models[b.dataset.policy as Policy];
      if (!m) return;
      state.words = m.entries
        .map(
          (e) =>
            `0x${hex(e.halves[1], e.halves[0])} 0x${hex(e.halves[3], e.halves[2])}  # ${e.cmd.name} smmu ${e.smmu}`,
        )
        .join('\n');
      state.view = 'decode';
      byId<HTMLTextAreaElement>('dec-words').value = state.words;
      page.changed();
      page.showView();
      renderDecode(state);
    });
  renderDetails(page);
}

function hex(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

function legend(): HTMLElement {
  const item = (cls: string, text: string): HTMLElement =>
    h('span', { class: 'item' }, h('span', { class: `sw ${cls}` }), text);
  return h(
    'div',
    { class: 'legend' },
    item('range', 'range TLBI (NUM · SCALE · TTL · TG)'),
    item('whole', 'whole-tag TLBI'),
    item('atc', 'ATC_INV'),
    item('over', 'beyond the range (over-invalidation)'),
    item('band', 'the request range'),
    item('sync', 'CMD_SYNC: batch boundary'),
  );
}
