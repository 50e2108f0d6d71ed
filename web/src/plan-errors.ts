/**
 * Errors at their fields: a wrong input of the plan form is marked and its message shown next to it (the first
 * error at a field wins); one with no field of its own goes to the banner above the plans.
 */
import { all, byId } from './dom.js';
import type { FieldError } from './request.js';

export function clearErrors(): void {
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

export function showError(fe: FieldError): void {
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
