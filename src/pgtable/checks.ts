/**
 * Argument checks of map, unmap and the lookups: integers, granule alignment and the input / output address
 * sizes. Each throws the PageTableError naming the field, before anything is read or written.
 */
import { hexAddr } from '../bits.js';
import { PageTableError } from './errors.js';
import type { TableStore } from './store.js';

function isUint(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function notInteger(field: string, v: unknown): PageTableError {
  return new PageTableError('not-integer', field, `expected a non-negative integer, got ${String(v)}`);
}

function misaligned(field: string, v: number, granule: number): PageTableError {
  return new PageTableError('misaligned', field, `${hexAddr(v)} is not a multiple of the ${granule / 1024}K granule`);
}

/** `v` is a non-negative integer below `limit` (the input or output address space of `t`). */
export function checkAddress(
  t: TableStore,
  field: string,
  v: number,
  limit: number,
  kind: 'outside-ias' | 'outside-oas',
): void {
  if (!isUint(v)) throw notInteger(field, v);
  if (v >= limit)
    throw new PageTableError(
      kind,
      field,
      `${hexAddr(v)} is outside the ${kind === 'outside-ias' ? t.config.ias : t.config.oas}-bit ${kind === 'outside-ias' ? 'input' : 'output'} address space`,
    );
}

/** [iova, iova + size) (and [pa, pa + size) unless pa is null) is a granule-aligned range inside the table. */
export function checkRange(t: TableStore, iova: number, size: number, pa: number | null): void {
  if (!isUint(iova)) throw notInteger('iova', iova);
  if (!isUint(size)) throw notInteger('size', size);
  if (pa !== null && !isUint(pa)) throw notInteger('pa', pa);
  if (size === 0) throw new PageTableError('zero-size', 'size', 'must not be zero');
  const gr = t.granule;
  if (iova % gr !== 0) throw misaligned('iova', iova, gr);
  if (pa !== null && pa % gr !== 0) throw misaligned('pa', pa, gr);
  if (size % gr !== 0) throw misaligned('size', size, gr);
  const ias = t.config.ias;
  if (iova >= t.inputLimit)
    throw new PageTableError('outside-ias', 'iova', `${hexAddr(iova)} is outside the ${ias}-bit input address space`);
  if (iova + size > t.inputLimit)
    throw new PageTableError(
      'outside-ias',
      'size',
      `[${hexAddr(iova)}, +${hexAddr(size)}) runs past the ${ias}-bit input address space`,
    );
  if (pa !== null) {
    const oas = t.config.oas;
    if (pa >= t.outputLimit)
      throw new PageTableError('outside-oas', 'pa', `${hexAddr(pa)} is outside the ${oas}-bit output address space`);
    if (pa + size > t.outputLimit)
      throw new PageTableError(
        'outside-oas',
        'size',
        `pa [${hexAddr(pa)}, +${hexAddr(size)}) runs past the ${oas}-bit output address space`,
      );
  }
}
