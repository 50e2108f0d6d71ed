/**
 * The page: inputs on the left, the two policies' plans drawn on the right, a command-queue decoder, and
 * the state in the URL. Everything is computed by the environment-free core in src/ (the same code the CLI
 * runs); this module only wires inputs, URL and views together.
 */
import './style.css';
import { InputError } from '../../src/parse.js';
import { leafLevelAllowed, leafSizes, parsePlanRequest, tableLevelAllowed } from '../../src/tlbi/index.js';
import { renderDecode, setupDecodeView } from './decode-view.js';
import { all, byId, h } from './dom.js';
import { planDocument } from './engine.js';
import { drawPlan, entryDetails, sharedWindow, sizeText, type PlanModel, type Policy } from './plan-view.js';
import type { PlanStats } from '../../src/tlbi/index.js';
import { allFieldErrors, buildRequests, fieldOf, levelOfGranule, type FieldError } from './request.js';
import { UrlMaxChars, hasPackedState, inlineLink, linkFor, queryOfLocation, type Link } from './share.js';
import { runAndShow, setupSimulateView } from './simulate-view.js';
import {
  INV_TYPES,
  PGSIZES,
  defaultState,
  stateFromQuery,
  stateToQuery,
  type InvRow,
  type InvType,
  type PageState,
  type Pgsize,
} from './state.js';
import { log2Of } from '../../src/units.js';

/** The page state: filled from the link in boot() before anything reads it. */
const state: PageState = defaultState();
let hovered: string | null = null;
let models: Partial<Record<Policy, PlanModel>> = {};

/** Counts URL updates, so that a slow compression finishing after a newer one is dropped. */
let linkSeq = 0;
/** The fragment the page itself wrote (any other change of it is a new link to open). */
let writtenHash = '';

function showLink(link: Link, words: boolean): void {
  history.replaceState(null, '', `${location.pathname}${link.href}`);
  writtenHash = location.hash;
  const a = byId<HTMLAnchorElement>('permalink');
  a.href = location.pathname + link.href;
  const note = byId('link-note');
  note.classList.toggle('warn', !words);
  note.textContent = words
    ? link.kind === 'fragment'
      ? `(compressed into the link's #fragment: ${link.length} characters)`
      : ''
    : `This case is too large for a link (over ${UrlMaxChars} characters, the longest URL Firefox opens; ` +
      "Chromium's limit is 2 MiB): the link and the address bar hold it without the pasted words — share them as a file.";
  document.body.dataset.link = words ? link.kind : 'too-long';
}

/**
 * Keep the URL in step with the state (replace, not push: typing should not flood the history). A small
 * state is written at once into the query string; a large one is compressed into the fragment (share.ts).
 */
function syncUrl(): void {
  const q = stateToQuery(state);
  const base = location.origin + location.pathname;
  const seq = ++linkSeq;
  const inline = inlineLink(base, q);
  if (inline) {
    showLink(inline, true);
    return;
  }
  document.body.dataset.link = 'pending';
  void (async () => {
    const link = await linkFor(base, q);
    if (seq !== linkSeq) return;
    if (!link.tooLong) return showLink(link, true);
    // A browser would refuse the link: keep everything but the pasted words (and say so).
    const smaller = await linkFor(base, stateToQuery({ ...state, words: '' }));
    if (seq !== linkSeq) return;
    showLink(smaller.tooLong ? { ...smaller, href: '', kind: 'query' } : smaller, false);
  })();
}

// ---- views (tabs) ----

function showView(): void {
  for (const b of all<HTMLButtonElement>('.tabs button')) {
    const on = b.dataset.view === state.view;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', String(on));
  }
  for (const v of all('.view')) v.hidden = v.dataset.view !== state.view;
  // The simulation runs when its view is first shown (then on "run").
  if (state.view === 'simulate' && !simulated) {
    simulated = true;
    runAndShow(state);
  }
}

let simulated = false;

// ---- the plan form ----

const Presets: Record<string, InvRow[]> = {
  s1: [{ smmu: '0', type: 'S1_ASID', id: '5', extra: '0' }],
  s1ats: [
    { smmu: '0', type: 'S1_ASID', id: '5', extra: '0' },
    { smmu: '0', type: 'ATS', id: '0x10', extra: '0' },
  ],
  s2: [{ smmu: '0', type: 'S2_VMID', id: '3', extra: '' }],
  nested: [
    { smmu: '0', type: 'S2_VMID', id: '3', extra: '' },
    { smmu: '0', type: 'S2_VMID_S1_CLEAR', id: '3', extra: '' },
    { smmu: '0', type: 'ATS_FULL', id: '0x10', extra: '' },
    { smmu: '1', type: 'S2_VMID', id: '3', extra: '' },
    { smmu: '1', type: 'S2_VMID_S1_CLEAR', id: '4', extra: '' },
    { smmu: '1', type: 'ATS_FULL', id: '0x20', extra: '' },
  ],
  two: [
    { smmu: '0', type: 'S1_ASID', id: '5', extra: '0' },
    { smmu: '1', type: 'S1_ASID', id: '5', extra: '0' },
  ],
  guest: [{ smmu: '0', type: 'S1_ASID_NESTED', id: '5', extra: '3' }],
};

function sizeLabel(bytes: number, pgsize: number): string {
  const l = levelOfGranule(pgsize, bytes);
  return `${sizeText(bytes)} ${bytes === pgsize ? 'page' : 'block'} (level ${l})`;
}

function fillGranules(): void {
  const sel = byId<HTMLSelectElement>('f-granule');
  const sizes = leafSizes(state.pgsize);
  if (!sizes.includes(state.granule)) state.granule = state.pgsize;
  sel.replaceChildren(
    ...sizes.map((b) => h('option', { value: b, selected: b === state.granule }, sizeLabel(b, state.pgsize))),
  );
}

function fillLevels(): void {
  const g = log2Of(state.pgsize);
  const box = (kind: 'll' | 'tl', l: number, allowed: boolean, on: boolean): HTMLElement =>
    h(
      'label',
      { class: `lvl${allowed ? '' : ' off'}`, title: allowed ? '' : 'not possible with this granule' },
      h('input', { type: 'checkbox', id: `f-${kind}${l}`, 'data-level': l, checked: on, disabled: !allowed && !on }),
      ` L${l}`,
    );
  byId('f-ll').replaceChildren(
    ...[0, 1, 2, 3].map((l) => box('ll', l, leafLevelAllowed(g, l), state.leafLevels.includes(l))),
  );
  byId('f-tl').replaceChildren(
    ...[0, 1, 2].map((l) => box('tl', l, tableLevelAllowed(g, l), state.tableLevels.includes(l))),
  );
}

function invRow(r: InvRow, k: number): HTMLElement {
  const extraLabel = r.type === 'S1_ASID_NESTED' ? 'vmid' : r.type === 'ATS' ? 'ssid' : '';
  return h(
    'tr',
    { 'data-row': k },
    h(
      'td',
      {},
      h('input', {
        class: 'mono smmu',
        'data-col': 'smmu',
        value: r.smmu,
        'aria-label': `target ${k} smmu`,
        spellcheck: 'false',
      }),
    ),
    h(
      'td',
      {},
      h(
        'select',
        { 'data-col': 'type', 'aria-label': `target ${k} type` },
        ...INV_TYPES.map((t) => h('option', { value: t, selected: t === r.type }, t)),
      ),
    ),
    h(
      'td',
      {},
      h('input', { class: 'mono', 'data-col': 'id', value: r.id, 'aria-label': `target ${k} id`, spellcheck: 'false' }),
    ),
    h(
      'td',
      {},
      h('input', {
        class: 'mono',
        'data-col': 'extra',
        value: extraLabel ? r.extra : '',
        placeholder: extraLabel || '—',
        disabled: !extraLabel,
        'aria-label': `target ${k} ${extraLabel || 'unused'}`,
        spellcheck: 'false',
      }),
    ),
    h(
      'td',
      {},
      h(
        'button',
        {
          type: 'button',
          class: 'del',
          'data-del': k,
          title: 'remove this target',
          'aria-label': `remove target ${k}`,
        },
        '×',
      ),
    ),
  );
}

function fillInvs(): void {
  byId('invs-body').replaceChildren(...state.invs.map(invRow));
}

/** Put the state into the form (on load and after structural changes). */
function fillForm(): void {
  byId<HTMLInputElement>('f-start').value = state.start;
  byId<HTMLInputElement>('f-size').value = state.size;
  byId<HTMLInputElement>('f-last').value = state.last;
  byId<HTMLInputElement>('f-by-size').checked = state.by === 'size';
  byId<HTMLInputElement>('f-by-last').checked = state.by === 'last';
  byId<HTMLSelectElement>('f-pgsize').value = String(state.pgsize);
  byId<HTMLInputElement>('f-desc-linux').checked = state.desc === 'linux';
  byId<HTMLInputElement>('f-desc-tlbi').checked = state.desc === 'tlbi';
  byId<HTMLInputElement>('f-leaf').checked = state.leaf;
  byId<HTMLInputElement>('f-ril').checked = state.ril;
  byId<HTMLInputElement>('f-e2h').checked = state.e2h;
  byId<HTMLInputElement>('f-fs').checked = state.forceSync;
  byId<HTMLInputElement>('f-ds').checked = state.ds;
  fillGranules();
  fillLevels();
  fillInvs();
  showModes();
}

function showModes(): void {
  byId('row-size').hidden = state.by !== 'size';
  byId('row-last').hidden = state.by !== 'last';
  byId('desc-linux').hidden = state.desc !== 'linux';
  byId('desc-tlbi').hidden = state.desc !== 'tlbi';
}

function checkedLevels(boxId: string): number[] {
  return all<HTMLInputElement>('input[type=checkbox]', byId(boxId))
    .filter((b) => b.checked)
    .map((b) => Number(b.dataset.level))
    .sort((a, b) => a - b);
}

/** Read the form into the state. */
function readForm(): void {
  state.start = byId<HTMLInputElement>('f-start').value;
  state.size = byId<HTMLInputElement>('f-size').value;
  state.last = byId<HTMLInputElement>('f-last').value;
  state.by = byId<HTMLInputElement>('f-by-last').checked ? 'last' : 'size';
  state.pgsize = Number(byId<HTMLSelectElement>('f-pgsize').value) as Pgsize;
  state.granule = Number(byId<HTMLSelectElement>('f-granule').value);
  state.desc = byId<HTMLInputElement>('f-desc-tlbi').checked ? 'tlbi' : 'linux';
  state.leaf = byId<HTMLInputElement>('f-leaf').checked;
  state.leafLevels = checkedLevels('f-ll');
  state.tableLevels = checkedLevels('f-tl');
  state.ril = byId<HTMLInputElement>('f-ril').checked;
  state.e2h = byId<HTMLInputElement>('f-e2h').checked;
  state.forceSync = byId<HTMLInputElement>('f-fs').checked;
  state.ds = byId<HTMLInputElement>('f-ds').checked;
  state.invs = all<HTMLTableRowElement>('tr', byId('invs-body')).map((tr) => {
    const get = (c: string): string =>
      (tr.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-col=${c}]`)?.value ?? '').trim();
    return { smmu: get('smmu'), type: get('type') as InvType, id: get('id'), extra: get('extra') };
  });
}

function setupForm(): void {
  const form = byId<HTMLFormElement>('plan-form');
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('input', (e) => {
    const t = e.target as HTMLElement;
    const prevPgsize = state.pgsize;
    const prevTypes = state.invs.map((r) => r.type).join();
    readForm();
    if (state.pgsize !== prevPgsize) {
      fillGranules();
      state.leafLevels = state.leafLevels.filter((l) => leafLevelAllowed(log2Of(state.pgsize), l));
      state.tableLevels = state.tableLevels.filter((l) => tableLevelAllowed(log2Of(state.pgsize), l));
      fillLevels();
    }
    if (state.invs.map((r) => r.type).join() !== prevTypes) {
      fillInvs();
      const again = byId('invs-body').querySelector<HTMLElement>(
        `[data-row="${t.closest('tr')?.dataset.row ?? ''}"] [data-col=type]`,
      );
      again?.focus();
    }
    showModes();
    update();
  });
  byId('invs-body').addEventListener('click', (e) => {
    const del = (e.target as HTMLElement).closest<HTMLElement>('[data-del]');
    if (!del) return;
    state.invs.splice(Number(del.dataset.del), 1);
    fillInvs();
    update();
  });
  byId('inv-add').addEventListener('click', () => {
    const lastRow = state.invs[state.invs.length - 1];
    state.invs.push({ smmu: lastRow?.smmu ?? '0', type: 'S1_ASID', id: String(state.invs.length + 1), extra: '0' });
    fillInvs();
    update();
  });
  const preset = byId<HTMLSelectElement>('inv-preset');
  preset.addEventListener('change', () => {
    const p = Presets[preset.value];
    if (p) state.invs = p.map((r) => ({ ...r }));
    preset.value = '';
    fillInvs();
    update();
  });
}

// ---- errors at their fields ----

function clearErrors(): void {
  for (const el of all('#plan-form .err')) {
    el.textContent = '';
    el.classList.remove('shown');
  }
  for (const el of all('#plan-form .invalid')) {
    el.classList.remove('invalid');
    el.removeAttribute('aria-invalid');
  }
  const banner = byId('plan-error');
  banner.hidden = true;
  banner.textContent = '';
}

const FieldInputs: Record<string, string> = {
  start: 'f-start',
  size: 'f-size',
  last: 'f-last',
  pgsize: 'f-pgsize',
  granule: 'f-granule',
  leaf: 'f-leaf',
  leafLevels: 'f-ll',
  tableLevels: 'f-tl',
};

function showError(fe: FieldError): void {
  const mark = (el: Element | null): void => {
    el?.classList.add('invalid');
    el?.setAttribute('aria-invalid', 'true');
  };
  let slot: HTMLElement | null = null;
  if (fe.at.startsWith('invs')) {
    const [, row, col] = fe.at.split('.');
    if (row !== undefined) mark(document.querySelector(`#invs-body tr[data-row="${row}"] [data-col=${col}]`));
    slot = document.querySelector<HTMLElement>('#plan-form .err[data-for=invs]');
  } else if (fe.at) {
    const id = FieldInputs[fe.at];
    if (id) mark(byId(id));
    slot = document.querySelector<HTMLElement>(`#plan-form .err[data-for=${fe.at}]`);
  }
  if (!slot) {
    const banner = byId('plan-error');
    banner.hidden = false;
    banner.textContent = fe.message;
    return;
  }
  if (slot.textContent) return; // first error at a field wins
  slot.textContent = fe.message;
  slot.classList.add('shown');
  slot.setAttribute('role', 'alert');
}

// ---- results ----

function tlbiCount(st: PlanStats): number {
  let n = 0;
  for (const [name, k] of Object.entries(st.byKind)) if (name.startsWith('TLBI_')) n += k;
  return n;
}

/** The two policies side by side, from the core's statistics; the better figure of each row in green. */
function compareTable(failed: Partial<Record<Policy, string>>): HTMLElement {
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
        h('div', { class: 'sub' }, models[p]?.request ?? failed[p] ?? ''),
      ),
    ),
  );
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

function select(id: string): void {
  state.sel = state.sel === id ? '' : id;
  syncUrl();
  renderDrawings();
}

function hover(id: string | null): void {
  hovered = id;
  renderDetails();
}

function findEntry(id: string): { m: PlanModel; e: PlanModel['entries'][number] } | null {
  const [p, i] = id.split('.');
  const m = models[p as Policy];
  const e = m?.entries[Number(i)];
  return m && e ? { m, e } : null;
}

function renderDetails(): void {
  const box = byId('details');
  const hit = findEntry(hovered ?? state.sel);
  if (!hit) {
    box.replaceChildren(
      h('p', { class: 'hint' }, 'Hover over or click a bar to see its decoded fields and its two 64-bit words.'),
    );
    return;
  }
  box.replaceChildren(entryDetails(hit.m, hit.e));
}

function renderDrawings(): void {
  const box = byId('drawings');
  const list = (['linux', 'tlbi'] as const).map((p) => models[p]).filter((m): m is PlanModel => m !== undefined);
  const win = sharedWindow(list);
  const hd = { selected: state.sel, select, hover };
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
      syncUrl();
      showView();
      renderDecode(state);
    });
  renderDetails();
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

/** The core's parser over both requests, in the order update() checks them (the one the user wrote first). */
function checkRequests(r: ReturnType<typeof buildRequests>): void {
  const docs = [r.linux, r.tlbi];
  if (state.by === 'last') docs.reverse();
  for (const d of docs) if (d) parsePlanRequest(d);
}

/** Recompute everything from the state. Never throws: errors end up at their fields or in the banner. */
function update(): void {
  syncUrl();
  clearErrors();
  models = {};
  const failed: Partial<Record<Policy, string>> = {};
  try {
    let reqs: ReturnType<typeof buildRequests> | null = null;
    try {
      reqs = buildRequests(state);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      showError(fieldOf(e, state));
      failed.linux = failed.tlbi = e.message;
      // The derived description belongs to the last request that could be built: not this one.
      byId('desc-derived').textContent = '';
    }
    if (reqs) {
      byId('desc-derived').textContent =
        state.desc === 'linux' ? `tlbi description: ${reqs.tlbiText}` : `Linux request: ${reqs.linuxText}`;
      // The request the user wrote is checked first, so that its error is the one shown at a shared field: a
      // range given by its last byte is the tlbi description's; one given by its size is Linux's.
      const docs: [Policy, Record<string, unknown> | null, string][] = [
        ['linux', reqs.linux, reqs.linuxText],
        ['tlbi', reqs.tlbi, reqs.tlbiText],
      ];
      if (state.by === 'last') docs.reverse();
      for (const [p, doc, text] of docs) {
        if (!doc) {
          failed[p] = text;
          continue;
        }
        try {
          models[p] = planDocument(doc, text);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          showError(fieldOf(e, state));
          failed[p] = e.message;
        }
      }
    }
    // Every other wrong input is marked too, not only the first the parser met.
    if (failed.linux !== undefined || failed.tlbi !== undefined)
      for (const fe of allFieldErrors(state, checkRequests)) showError(fe);
    byId('compare').replaceChildren(compareTable(failed));
    renderDrawings();
    const nothing = !models.linux && !models.tlbi;
    byId('drawings').classList.toggle('empty', nothing);
    if (nothing) byId('drawings').replaceChildren(h('p', { class: 'hint' }, 'Fix the marked input to see the plans.'));
  } catch (e) {
    const banner = byId('plan-error');
    banner.hidden = false;
    banner.textContent = `internal error: ${(e as Error).message} (please report it with the link to this case)`;
  }
}

// ---- start ----

function start(): void {
  for (const b of all<HTMLButtonElement>('.tabs button'))
    b.addEventListener('click', () => {
      state.view = (b.dataset.view as PageState['view'] | undefined) ?? 'plan';
      syncUrl();
      showView();
    });
  byId<HTMLSelectElement>('f-pgsize').replaceChildren(
    ...PGSIZES.map((p) => h('option', { value: p }, `${sizeText(p)} translation granule`)),
  );
  fillForm();
  setupForm();
  setupDecodeView({ state, changed: syncUrl });
  setupSimulateView({ state, changed: syncUrl });
  showView();
  update();
  document.body.dataset.ready = '1';
}

/** Read the state from the link (a compressed fragment is unpacked first), then start the page. */
async function boot(): Promise<void> {
  const { query, error } = await queryOfLocation(location.search, location.hash);
  Object.assign(state, stateFromQuery(query));
  if (state.invs.length === 0 && !query) state.invs = defaultState().invs;
  if (error) {
    const banner = byId('link-error');
    banner.hidden = false;
    banner.textContent = error;
  }
  writtenHash = location.hash;
  // Another link pasted into the address bar of this tab changes only the fragment: open it.
  window.addEventListener('hashchange', () => {
    if (location.hash !== writtenHash && hasPackedState(location.hash)) location.reload();
  });
  start();
}

void boot();
