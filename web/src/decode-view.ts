/**
 * The command-queue view: the `decode` command in the browser. Hex words pasted as text (the CLI's word-pair
 * syntax, parsed by the same function) or a dropped binary dump (16-byte little-endian entries) are decoded
 * by the core codec; illegal entries are marked with the field at fault and the reason.
 */
import {
  CommandChecker,
  decodeHalves,
  fieldsToJson,
  halvesFromBytes,
  wordsToJson,
  type DecodeResult,
} from '../../src/cmdq/index.js';
import { parseHexPairs } from '../../src/cmdq/hexwords.js';
import { BUILTIN_SAMPLE } from '../../src/cmdq/sample.js';
import { formatFields } from '../../src/cmdq/format.js';
import { byId, h } from './dom.js';
import type { PageState } from './state.js';

/** The longest dump decoded into the table (a whole 1 MiB ring is 65536 entries: more than a page can show). */
const MaxShownEntries = 2000;

export interface DecodeHost {
  state: PageState;
  /** Called after the user changed the decode inputs, to store them in the URL. */
  changed(): void;
}

/** Halves of a dropped binary dump, kept apart from the URL (they are not text). */
let dropped: { name: string; u32: Uint32Array } | null = null;

export function setupDecodeView(host: DecodeHost): void {
  const text = byId<HTMLTextAreaElement>('dec-words');
  const lax = byId<HTMLInputElement>('dec-lax');
  const errorsOnly = byId<HTMLInputElement>('dec-errors-only');
  const queue = byId<HTMLSelectElement>('dec-queue');
  const file = byId<HTMLInputElement>('dec-file');
  const zone = byId('dec-drop');
  text.value = host.state.words;
  lax.checked = host.state.lax;
  errorsOnly.checked = host.state.errorsOnly;
  errorsOnly.addEventListener('change', () => {
    host.state.errorsOnly = errorsOnly.checked;
    host.changed();
    renderDecode(host.state);
  });
  queue.value = host.state.queue;

  const onText = (): void => {
    dropped = null;
    host.state.words = text.value;
    host.changed();
    renderDecode(host.state);
  };
  text.addEventListener('input', onText);
  lax.addEventListener('change', () => {
    host.state.lax = lax.checked;
    host.changed();
    renderDecode(host.state);
  });
  queue.addEventListener('change', () => {
    host.state.queue = queue.value === 'secure' ? 'secure' : 'non-secure';
    host.changed();
    renderDecode(host.state);
  });
  byId('dec-sample').addEventListener('click', () => {
    text.value = BUILTIN_SAMPLE.map(([idx, w0, w1]) => `${w0} ${w1}  # ring slot ${idx}`).join('\n');
    onText();
  });
  byId('dec-clear').addEventListener('click', () => {
    text.value = '';
    onText();
  });

  const load = async (f: File): Promise<void> => {
    const bytes = new Uint8Array(await f.arrayBuffer());
    if (bytes.length % 16 !== 0) {
      dropped = null;
      showError(`${f.name}: ${bytes.length} bytes is not a multiple of 16 (one entry is 16 bytes)`);
      return;
    }
    dropped = { name: f.name, u32: halvesFromBytes(bytes).slice() };
    // The dump replaces the pasted words: the box must not show entries that are no longer decoded.
    text.value = '';
    host.state.words = '';
    host.changed();
    renderDecode(host.state);
  };
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f) void load(f);
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void load(f);
  });
  renderDecode(host.state);
}

function showError(message: string): void {
  const err = byId('dec-error');
  err.textContent = message;
  err.hidden = false;
  byId('dec-words').classList.add('invalid');
  byId('dec-words').setAttribute('aria-invalid', 'true');
  byId('dec-summary').textContent = '';
  byId('dec-table').replaceChildren();
}

/** Decode the current input and draw the table. Never throws: bad input becomes a message at the field. */
export function renderDecode(st: PageState): void {
  const err = byId('dec-error');
  const words = byId('dec-words');
  err.hidden = true;
  err.textContent = '';
  words.classList.remove('invalid');
  words.removeAttribute('aria-invalid');
  let u32: Uint32Array;
  let source: string;
  try {
    if (dropped) {
      u32 = dropped.u32;
      source = dropped.name;
    } else {
      u32 = parseHexPairs(st.words, 'words');
      source = 'pasted words';
    }
  } catch (e) {
    showError((e as Error).message);
    return;
  }
  const checker = new CommandChecker({ queue: st.queue, lax: st.lax });
  const n = u32.length / 4;
  const rows: HTMLElement[] = [];
  let illegal = 0;
  // A dropped dump is a ring: its runs of zero slots (never written) are one row each, counted apart and not
  // judged, as `decode --file` does; pasted words are explicit, a zero entry among them is judged (ILLEGAL).
  let empty = 0;
  let runStart = -1;
  let cut = false;
  const show = (row: () => HTMLElement): void => {
    if (rows.length < MaxShownEntries) rows.push(row());
    else cut = true;
  };
  const endRun = (slot: number): void => {
    const first = runStart;
    if (first >= 0 && !st.errorsOnly) show(() => emptyRow(first, slot - 1));
    runStart = -1;
  };
  for (let slot = 0; slot < n; slot++) {
    const hv: [number, number, number, number] = [
      u32[slot * 4]!,
      u32[slot * 4 + 1]!,
      u32[slot * 4 + 2]!,
      u32[slot * 4 + 3]!,
    ];
    if (dropped && (hv[0] | hv[1] | hv[2] | hv[3]) === 0) {
      empty++;
      if (runStart < 0) runStart = slot;
      continue;
    }
    endRun(slot);
    const r = decodeHalves(hv[0], hv[1], hv[2], hv[3], checker);
    if (!r.ok) illegal++;
    if (!st.errorsOnly || !r.ok) show(() => entryRow(slot, r, hv));
  }
  endRun(n);
  if (dropped && n > 0 && empty === n) {
    showError(`${source}: the dump holds no command (all ${n} entries are zero)`);
    return;
  }
  const table = byId('dec-table');
  if (n === 0 || rows.length === 0) {
    table.replaceChildren(
      h(
        'p',
        { class: 'hint' },
        'Paste pairs of 64-bit hex words (w0 w1 per entry), load the sample, or drop a binary queue dump.',
      ),
    );
  } else {
    table.replaceChildren(
      h(
        'table',
        { class: 'entries', 'data-entries': n, 'data-illegal': illegal },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, '#'),
            h('th', {}, 'w0'),
            h('th', {}, 'w1'),
            h('th', {}, 'command'),
            h('th', {}, 'fields'),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
    );
  }
  const more = cut ? ` (first ${rows.length} rows shown)` : '';
  const zeros = empty > 0 ? `, ${empty} empty (zero)` : '';
  byId('dec-summary').textContent = `${source}: ${n} entries, ${illegal} illegal${zeros}${more}`;
  byId('dec-summary').classList.toggle('bad', illegal > 0);
}

/** One row for a run of zero slots of a dropped dump (the CLI's line "slots A–B: empty (zero)"). */
function emptyRow(first: number, last: number): HTMLElement {
  const what = first === last ? `slot ${first}` : `slots ${first}–${last}`;
  return h('tr', { class: 'empty' }, h('td', { colspan: 5, class: 'hint' }, `${what}: empty (zero)`));
}

function entryRow(slot: number, r: DecodeResult, hv: [number, number, number, number]): HTMLElement {
  const [w0, w1] = wordsToJson(...hv);
  if (r.ok) {
    const warn = r.warnings.map((w) => `${w.field}: ${w.reason}`).join('; ');
    return h(
      'tr',
      { class: 'ok', 'data-name': r.command.name },
      h('td', {}, String(slot)),
      h('td', { class: 'mono' }, w0),
      h('td', { class: 'mono' }, w1),
      h('td', { class: 'name' }, r.command.name),
      h(
        'td',
        { class: 'mono' },
        formatFields(fieldsToJson(r.command), r.command.name),
        warn ? h('div', { class: 'warn' }, `⚠ ${warn}`) : null,
      ),
    );
  }
  const e = r.error;
  return h(
    'tr',
    { class: 'illegal', 'data-field': e.field },
    h('td', {}, String(slot)),
    h('td', { class: 'mono' }, w0),
    h('td', { class: 'mono' }, w1),
    h('td', { class: 'name' }, 'ILLEGAL', e.command ? h('div', { class: 'sub' }, e.command) : null),
    h(
      'td',
      {},
      h('span', { class: 'field' }, `${e.field} = ${e.value}`),
      ' ',
      h('span', { class: 'reason' }, e.reason),
    ),
  );
}
