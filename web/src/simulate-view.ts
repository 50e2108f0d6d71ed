/**
 * The "simulate" view: the project's randomized workload (page tables → engine → optional fault → command
 * queues → adversarial SMMU model → stale-translation checker, src/sim) run in the browser. It shows what the
 * caches held before the commands and what was left after them, and every stale translation the checker
 * found: the cached entry, what it still translates to, what the live tables say, and the commands that were
 * issued. The fault picker breaks the command stream the way the CLI's `--fault` does. Below the figures, the
 * cache contents around one change (cache-view.ts): by default the first change that left a stale
 * translation, else the last one.
 */
import { InputError, parseUint } from '../../src/parse.js';
import { FAULT_HELP, FAULT_NAMES, type FaultName } from '../../src/sim/faults.js';
import { runSimulation, type SimConfig, type SimReport } from '../../src/sim/workload.js';
import { captureSection } from './cache-view.js';
import { all, byId, h } from './dom.js';
import { replayPicker } from './replay-view.js';
import type { PageState } from './state.js';

/** Operations a page run may take (a few seconds at most); longer runs belong to the CLI. */
const MaxPageOps = 5000;
const MaxSmmus = 8;
const MaxReportsShown = 20;

export interface SimulateHost {
  state: PageState;
  changed(): void;
}

function select(
  id: string,
  options: readonly (readonly [string, string])[],
  value: string,
  title = '',
): HTMLSelectElement {
  return h(
    'select',
    { id, title },
    ...options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
  );
}

function field(label: string, input: HTMLElement, errFor: string): HTMLElement {
  return h(
    'div',
    { class: 'sim-field' },
    h('label', {}, h('span', {}, label), input),
    h('div', { class: 'err', 'data-for': errFor }),
  );
}

export function setupSimulateView(host: SimulateHost): void {
  const st = host.state;
  const root = byId('sim-root');
  const faultOptions: [string, string][] = [
    ['', 'none (the engine as is)'],
    ...FAULT_NAMES.map((f): [string, string] => [f, f]),
  ];
  root.replaceChildren(
    h(
      'form',
      { id: 'sim-form', class: 'sim-form', autocomplete: 'off', novalidate: true },
      field(
        'stage',
        select(
          's-stage',
          [
            ['1', 'stage 1 (ASIDs)'],
            ['2', 'stage 2 (VMIDs)'],
            ['nested', 'nested (S1 over an S2 parent)'],
          ],
          st.simStage,
        ),
        'stage',
      ),
      field(
        'granule',
        select(
          's-granule',
          [
            ['4096', '4K'],
            ['16384', '16K'],
            ['65536', '64K'],
          ],
          String(st.simGranule),
        ),
        'granule',
      ),
      field(
        'policy',
        select(
          's-policy',
          [
            ['linux', 'linux'],
            ['tlbi', 'tlbi'],
          ],
          st.simPolicy,
        ),
        'policy',
      ),
      field('SMMUs', h('input', { id: 's-smmus', class: 'mono', value: st.simSmmus, spellcheck: 'false' }), 'smmus'),
      field('operations', h('input', { id: 's-ops', class: 'mono', value: st.simOps, spellcheck: 'false' }), 'ops'),
      field('seed', h('input', { id: 's-seed', class: 'mono', value: st.simSeed, spellcheck: 'false' }), 'seed'),
      h(
        'div',
        { class: 'sim-checks' },
        h('label', {}, h('input', { type: 'checkbox', id: 's-ril', checked: st.simRil }), ' range invalidation'),
        h('label', {}, h('input', { type: 'checkbox', id: 's-ats', checked: st.simAts }), ' ATS devices'),
        h(
          'label',
          {},
          h('input', { type: 'checkbox', id: 's-generous', checked: st.simMode === 'generous' }),
          ' generous model (not adversarial)',
        ),
      ),
      field(
        'fault',
        select('s-fault', faultOptions, st.simFault, 'break the command stream like the CLI --fault'),
        'fault',
      ),
      h('p', { class: 'hint', id: 's-fault-help' }, faultHelp(st.simFault)),
      h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 's-run', class: 'primary' }, 'run')),
    ),
    replayPicker(),
    h('div', { id: 'sim-out', class: 'sim-out' }),
  );
  const form = byId<HTMLFormElement>('sim-form');
  const read = (): void => {
    st.simStage = byId<HTMLSelectElement>('s-stage').value as PageState['simStage'];
    st.simGranule = Number(byId<HTMLSelectElement>('s-granule').value) as PageState['simGranule'];
    st.simPolicy = byId<HTMLSelectElement>('s-policy').value === 'tlbi' ? 'tlbi' : 'linux';
    st.simSmmus = byId<HTMLInputElement>('s-smmus').value;
    st.simOps = byId<HTMLInputElement>('s-ops').value;
    st.simSeed = byId<HTMLInputElement>('s-seed').value;
    st.simRil = byId<HTMLInputElement>('s-ril').checked;
    st.simAts = byId<HTMLInputElement>('s-ats').checked;
    st.simMode = byId<HTMLInputElement>('s-generous').checked ? 'generous' : 'adversarial';
    st.simFault = byId<HTMLSelectElement>('s-fault').value;
    byId('s-fault-help').textContent = faultHelp(st.simFault);
    host.changed();
  };
  form.addEventListener('input', read);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    read();
    runAndShow(st);
  });
}

function faultHelp(f: string): string {
  return f && f in FAULT_HELP
    ? `${f}: ${FAULT_HELP[f as FaultName]}`
    : 'No fault: the commands are exactly what the engine planned.';
}

function clearErrors(): void {
  for (const el of all('#sim-form .err')) {
    el.textContent = '';
    el.classList.remove('shown');
  }
  for (const el of all('#sim-form .invalid')) {
    el.classList.remove('invalid');
    el.removeAttribute('aria-invalid');
  }
}

/** Run the workload with the view's settings and show the report. Never throws. */
export function runAndShow(st: PageState): void {
  clearErrors();
  const out = byId('sim-out');
  delete out.dataset.replayShown;
  let report: SimReport;
  let cfg: SimConfig;
  try {
    const smmus = parseUint(st.simSmmus, 'smmus');
    if (smmus < 1 || smmus > MaxSmmus) throw new InputError('smmus', `${smmus} is out of range (1 to ${MaxSmmus})`);
    const ops = parseUint(st.simOps, 'ops');
    if (ops < 1 || ops > MaxPageOps)
      throw new InputError(
        'ops',
        `${ops} is out of range (1 to ${MaxPageOps} in the page; use the CLI for longer runs)`,
      );
    const seed = parseUint(st.simSeed, 'seed');
    if (seed > 0xffffffff) throw new InputError('seed', `${seed} does not fit in 32 bits`);
    const t0 = performance.now();
    cfg = {
      granule: st.simGranule,
      stage: st.simStage,
      ril: st.simRil,
      ats: st.simAts,
      smmus,
      ops,
      seed,
      policy: st.simPolicy,
      fault: (st.simFault || null) as FaultName | null,
      mode: st.simMode,
      maxReports: MaxReportsShown,
    };
    report = runSimulation({ ...cfg, capture: { change: 'auto' } });
    out.dataset.ms = String(Math.round(performance.now() - t0));
  } catch (e) {
    if (e instanceof InputError) {
      const slot = document.querySelector<HTMLElement>(`#sim-form .err[data-for="${e.field}"]`);
      const input = document.getElementById(`s-${e.field}`);
      input?.classList.add('invalid');
      input?.setAttribute('aria-invalid', 'true');
      if (slot) {
        slot.textContent = e.message;
        slot.classList.add('shown');
      }
      out.replaceChildren();
      return;
    }
    out.replaceChildren(h('div', { class: 'banner' }, `internal error: ${(e as Error).message}`));
    return;
  }
  out.replaceChildren(...reportView(report, captureSection(cfg, report.capture ?? null)));
}

function reportView(r: SimReport, caches: HTMLElement): HTMLElement[] {
  const verdict =
    r.stale === 0
      ? h(
          'div',
          { class: 'verdict ok', 'data-stale': 0 },
          `No stale translation: after every change's last CMD_SYNC, nothing cached disagreed with the live tables.`,
        )
      : h(
          'div',
          { class: 'verdict bad', 'data-stale': r.stale },
          `${r.stale} stale translation${r.stale === 1 ? '' : 's'} found`,
        );
  const cache = (name: string, f: SimReport['caches']['tlb']): HTMLElement =>
    h(
      'tr',
      { 'data-cache': name },
      h('th', {}, name),
      h('td', {}, String(f.fills)),
      h('td', {}, String(f.removed)),
      h('td', {}, String(f.evicted)),
      h('td', {}, String(f.size)),
    );
  const commands = Object.entries(r.commands).sort((a, b) => b[1] - a[1]);
  return [
    verdict,
    h(
      'p',
      { class: 'summary-line' },
      `${r.ops} operations (${r.maps} maps, ${r.unmaps} unmaps), ${r.translations} device translations, ${r.syncs} CMD_SYNCs, ${r.illegal} illegal entries — seed ${r.seed}`,
    ),
    h(
      'div',
      { class: 'sim-tables' },
      h(
        'table',
        { class: 'compare sim-caches' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, 'cache'),
            h('th', {}, 'filled before the commands'),
            h('th', {}, 'removed by them'),
            h('th', {}, 'evicted'),
            h('th', {}, 'left after'),
          ),
        ),
        h('tbody', {}, cache('TLB', r.caches.tlb), cache('walk cache', r.caches.walk), cache('ATC', r.caches.atc)),
      ),
      h(
        'table',
        { class: 'compare sim-commands' },
        h('thead', {}, h('tr', {}, h('th', {}, 'command'), h('th', {}, 'issued'))),
        h('tbody', {}, ...commands.map(([n, k]) => h('tr', {}, h('th', {}, n), h('td', {}, String(k))))),
      ),
    ),
    caches,
    ...staleSection(r),
  ];
}

/** Every stale translation the report lists, the first one open. */
function staleSection(r: SimReport): HTMLElement[] {
  if (!r.staleReports.length) return [];
  return [
    h('h3', {}, `Stale translations (first ${r.staleReports.length} of ${r.stale})`),
    ...r.staleReports.map((s, k) =>
      h(
        'details',
        { class: 'stale', open: k === 0 },
        h(
          'summary',
          { class: 'stale-head' },
          `operation ${s.op} · SMMU ${s.smmu} · ${s.cache} · address ${s.address} → ${s.cached}, live: ${s.live}`,
        ),
        h(
          'div',
          { class: 'stale-body' },
          h(
            'div',
            {},
            h('span', { class: 'k' }, 'cached entry'),
            h(
              'code',
              {},
              Object.entries(s.entry)
                .map(([k2, v]) => `${k2}=${String(v)}`)
                .join(' '),
            ),
          ),
          h('div', {}, h('span', { class: 'k' }, 'still translates to'), h('code', { class: 'bad' }, s.cached)),
          h('div', {}, h('span', { class: 'k' }, 'live tables say'), h('code', {}, s.live)),
          h(
            'div',
            {},
            h('span', { class: 'k' }, 'commands issued'),
            h('ol', { class: 'cmds' }, ...s.commands.map((c) => h('li', {}, h('code', {}, c)))),
          ),
        ),
      ),
    ),
  ];
}
