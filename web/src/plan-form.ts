/**
 * The plan form: the request (range, granule, leaf size, levels, flags) and the table of invalidation targets
 * with its presets. It puts the page state into the inputs and reads them back on every change; the plans
 * themselves are computed by the caller's update().
 */
import { leafLevelAllowed, leafSizes, tableLevelAllowed } from '../../src/tlbi/index.js';
import { log2Of } from '../../src/units.js';
import { all, byId, h } from './dom.js';
import { sizeText } from './plan-view.js';
import { levelOfGranule } from './request.js';
import { INV_TYPES, PGSIZES, type InvRow, type InvType, type PageState, type Pgsize } from './state.js';

export interface PlanFormHost {
  state: PageState;
  /** Recompute the plans from the state (after every change of the form). */
  update(): void;
}

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

function fillGranules(state: PageState): void {
  const sel = byId<HTMLSelectElement>('f-granule');
  const sizes = leafSizes(state.pgsize);
  if (!sizes.includes(state.granule)) state.granule = state.pgsize;
  sel.replaceChildren(
    ...sizes.map((b) => h('option', { value: b, selected: b === state.granule }, sizeLabel(b, state.pgsize))),
  );
}

function fillLevels(state: PageState): void {
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

function fillInvs(state: PageState): void {
  byId('invs-body').replaceChildren(...state.invs.map(invRow));
}

/** Put the state into the form (on load and after structural changes). */
export function fillForm(state: PageState): void {
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
  fillGranules(state);
  fillLevels(state);
  fillInvs(state);
  showModes(state);
}

function showModes(state: PageState): void {
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
function readForm(state: PageState): void {
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

export function setupForm(host: PlanFormHost): void {
  const state = host.state;
  const form = byId<HTMLFormElement>('plan-form');
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('input', (e) => {
    const t = e.target as HTMLElement;
    const prevPgsize = state.pgsize;
    const prevTypes = state.invs.map((r) => r.type).join();
    readForm(state);
    if (state.pgsize !== prevPgsize) {
      fillGranules(state);
      state.leafLevels = state.leafLevels.filter((l) => leafLevelAllowed(log2Of(state.pgsize), l));
      state.tableLevels = state.tableLevels.filter((l) => tableLevelAllowed(log2Of(state.pgsize), l));
      fillLevels(state);
    }
    if (state.invs.map((r) => r.type).join() !== prevTypes) {
      fillInvs(state);
      const again = byId('invs-body').querySelector<HTMLElement>(
        `[data-row="${t.closest('tr')?.dataset.row ?? ''}"] [data-col=type]`,
      );
      again?.focus();
    }
    showModes(state);
    host.update();
  });
  byId('invs-body').addEventListener('click', (e) => {
    const del = (e.target as HTMLElement).closest<HTMLElement>('[data-del]');
    if (!del) return;
    state.invs.splice(Number(del.dataset.del), 1);
    fillInvs(state);
    host.update();
  });
  byId('inv-add').addEventListener('click', () => {
    const lastRow = state.invs[state.invs.length - 1];
    state.invs.push({ smmu: lastRow?.smmu ?? '0', type: 'S1_ASID', id: String(state.invs.length + 1), extra: '0' });
    fillInvs(state);
    host.update();
  });
  const preset = byId<HTMLSelectElement>('inv-preset');
  preset.addEventListener('change', () => {
    const p = Presets[preset.value];
    if (p) state.invs = p.map((r) => ({ ...r }));
    preset.value = '';
    fillInvs(state);
    host.update();
  });
}

/** Offer the translation granules in the form's pgsize list. */
export function fillPgsizes(): void {
  byId<HTMLSelectElement>('f-pgsize').replaceChildren(
    ...PGSIZES.map((p) => h('option', { value: p }, `${sizeText(p)} translation granule`)),
  );
}
