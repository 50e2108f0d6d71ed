/** The "simulate" view: needs the SMMU model (src/smmu, src/sim); until that lands it says so. */
import { byId, h } from './dom.js';

export function setupSimulateView(): void {
  byId('sim-root').replaceChildren(
    h(
      'p',
      { class: 'hint' },
      'The simulate view (cache contents before and after the commands, stale translations highlighted) needs the SMMU model, which this build does not include yet.',
    ),
  );
}
