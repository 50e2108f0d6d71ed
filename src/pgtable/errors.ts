/**
 * Typed errors of the page-table API. Every error carries a `kind` (what went wrong) and a `field` (which
 * argument: `iova`, `pa`, `size`, `prot`, `prot.read`, `granule`, `ias`, `oas`, `stage`), and its message
 * starts with the field. Overlap and partial-unmap errors also carry the existing mapping they ran into.
 */
import { hexAddr } from '../bits.js';

export type PageTableErrorKind =
  | 'bad-config'
  | 'not-integer'
  | 'zero-size'
  | 'misaligned'
  | 'outside-ias'
  | 'outside-oas'
  | 'overlap'
  | 'partial-unmap'
  | 'bad-prot';

export class PageTableError extends Error {
  readonly kind: PageTableErrorKind;
  readonly field: string;
  /** The message without the leading field name. */
  readonly detail: string;
  constructor(kind: PageTableErrorKind, field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = 'PageTableError';
    this.kind = kind;
    this.field = field;
    this.detail = detail;
  }
}

/** A mapping already present in the table: one leaf descriptor. */
export interface ExistingLeaf {
  /** First input address the leaf maps. */
  readonly iova: number;
  /** Bytes it maps (its block or page size). */
  readonly size: number;
  /** First output address. */
  readonly pa: number;
  /** Level of the leaf descriptor (3 = page). */
  readonly level: number;
}

export function describeLeaf(l: ExistingLeaf): string {
  const what = l.level === 3 ? 'page' : `level-${l.level} block`;
  return `${what} at iova ${hexAddr(l.iova)} size ${hexAddr(l.size)} (→ pa ${hexAddr(l.pa)})`;
}

/** `map` over a range that already holds a leaf: names the first such leaf. */
export class OverlapError extends PageTableError {
  readonly existing: ExistingLeaf;
  constructor(field: string, start: number, size: number, existing: ExistingLeaf) {
    super(
      'overlap',
      field,
      `[${hexAddr(start)}, +${hexAddr(size)}) overlaps the existing mapping: ${describeLeaf(existing)}`,
    );
    this.name = 'OverlapError';
    this.existing = existing;
  }
}

/** `unmap` whose start or end falls inside a block or page: names that leaf. Nothing was unmapped. */
export class PartialUnmapError extends PageTableError {
  readonly block: ExistingLeaf;
  constructor(field: 'iova' | 'size', start: number, size: number, block: ExistingLeaf) {
    super(
      'partial-unmap',
      field,
      `[${hexAddr(start)}, +${hexAddr(size)}) would unmap only part of the ${describeLeaf(block)}; ` +
        'unmap whole mappings only (nothing was unmapped)',
    );
    this.name = 'PartialUnmapError';
    this.block = block;
  }
}
