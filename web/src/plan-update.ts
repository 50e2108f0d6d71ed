/**
 * Recomputing the plans from the page state: both requests built from the form, each planned by the core
 * (the one the user wrote checked first), every wrong input marked at its field, then the results drawn.
 */
import { InputError } from '../../src/parse.js';
import { parsePlanRequest } from '../../src/tlbi/index.js';
import { byId, h } from './dom.js';
import { planDocument } from './engine.js';
import { clearErrors, showError } from './plan-errors.js';
import type { PlanPage } from './plan-page.js';
import { compareTable, renderDrawings } from './plan-results.js';
import type { Policy } from './plan-view.js';
import { allFieldErrors, buildRequests, fieldOf } from './request.js';
import type { PageState } from './state.js';

/** The core's parser over both requests, in the order update() checks them (the one the user wrote first). */
function checkRequests(state: PageState, r: ReturnType<typeof buildRequests>): void {
  const docs = [r.linux, r.tlbi];
  if (state.by === 'last') docs.reverse();
  for (const d of docs) if (d) parsePlanRequest(d);
}

/** Recompute everything from the state. Never throws: errors end up at their fields or in the banner. */
export function update(page: PlanPage): void {
  const state = page.state;
  page.changed();
  clearErrors();
  const models: PlanPage['models'] = {};
  page.models = models;
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
      for (const fe of allFieldErrors(state, (r) => checkRequests(state, r))) showError(fe);
    byId('compare').replaceChildren(compareTable(page, failed));
    renderDrawings(page);
    const nothing = !models.linux && !models.tlbi;
    byId('drawings').classList.toggle('empty', nothing);
    if (nothing) byId('drawings').replaceChildren(h('p', { class: 'hint' }, 'Fix the marked input to see the plans.'));
  } catch (e) {
    const banner = byId('plan-error');
    banner.hidden = false;
    banner.textContent = `internal error: ${(e as Error).message} (please report it with the link to this case)`;
  }
}
