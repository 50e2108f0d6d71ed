/**
 * What the plan view's modules share: the page state, the plans last computed, the entry under the pointer,
 * and the page-level actions they call (store the state in the URL, show the view the state names).
 */
import type { PlanModel, Policy } from './plan-view.js';
import type { PageState } from './state.js';

export interface PlanPage {
  readonly state: PageState;
  /** The plans drawn, by policy (a new object on every update). */
  models: Partial<Record<Policy, PlanModel>>;
  /** The entry under the pointer ("policy.index"), or null. */
  hovered: string | null;
  /** Store the state in the URL. */
  changed(): void;
  /** Show the view state.view names. */
  showView(): void;
}
