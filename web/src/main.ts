/**
 * The page: inputs on the left, the two policies' plans drawn on the right, a command-queue decoder, and
 * the state in the URL. Everything is computed by the environment-free core in src/ (the same code the CLI
 * runs); this module only wires the views together: the plan form (plan-form.ts), its errors and results
 * (plan-errors.ts, plan-results.ts, plan-update.ts), the decoder, the simulation, and the URL (url-sync.ts).
 */
import './style.css';
import { setupDecodeView } from './decode-view.js';
import { all, byId } from './dom.js';
import { fillForm, fillPgsizes, setupForm } from './plan-form.js';
import type { PlanPage } from './plan-page.js';
import { update } from './plan-update.js';
import { queryOfLocation } from './share.js';
import { runAndShow, setupSimulateView } from './simulate-view.js';
import { defaultState, stateFromQuery, type PageState } from './state.js';
import { followPastedLinks, syncUrl } from './url-sync.js';

/** The page state: filled from the link in boot() before anything reads it. */
const state: PageState = defaultState();
const changed = (): void => syncUrl(state);
const page: PlanPage = { state, models: {}, hovered: null, changed, showView };

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

// ---- start ----

function start(): void {
  for (const b of all<HTMLButtonElement>('.tabs button'))
    b.addEventListener('click', () => {
      state.view = (b.dataset.view as PageState['view'] | undefined) ?? 'plan';
      changed();
      showView();
    });
  fillPgsizes();
  fillForm(state);
  setupForm({ state, update: () => update(page) });
  setupDecodeView({ state, changed });
  setupSimulateView({ state, changed });
  showView();
  update(page);
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
  // Another link pasted into the address bar of this tab changes only the fragment: open it.
  followPastedLinks();
  start();
}

void boot();
