/**
 * The kernel-driver consumer's guests: a nesting parent's stage 2 (the guest's identity-mapped table window
 * and its RAM in chunks), and the two stage-2 changes the VMM makes behind a running guest — moving the
 * page that holds a guest table, and migrating a chunk of guest RAM — each unmapped, invalidated through
 * the parent's targets and mapped again with the driver's own map / unmap / iotlbSync.
 */
import { ProtRW, type Prot } from '../../pgtable/descriptor.js';
import { FrameAllocator } from '../../pgtable/memory.js';
import { log2Of } from '../../units.js';
import { GuestPhysView } from '../guest-memory.js';
import { RangeAllocator } from '../space.js';
import type { DriverCore } from './core.js';
import { LAYOUT, type Domain } from './domain.js';

/** What the VMM does to a nesting parent through the driver (the driver's own domain operations). */
export interface DomainOps {
  map(d: Domain, iova: number, pa: number, size: number, prot: Prot): void;
  unmap(d: Domain, iova: number, size: number): number;
  iotlbSync(d: Domain): void;
}

/**
 * Map a new nesting parent's guest: the page-table window identity (IPA = PA) so the guest's tables can be
 * written where the SMMU reads them, and the guest RAM chunk by chunk from host memory.
 */
export function setUpGuest(c: DriverCore, ops: DomainOps, d: Domain): void {
  // The first block of the window is mapped with pages, so that the VMM can move a table page there
  // (moveGuestTablePage); the rest with blocks.
  const base = LAYOUT.guestTableIpa;
  const block = 2 ** (log2Of(c.granule) * 2 - 3);
  const paged = Math.min(block, LAYOUT.guestTableBytes);
  ops.map(d, base, base, c.granule, ProtRW);
  if (paged > c.granule) ops.map(d, base + c.granule, base + c.granule, paged - c.granule, ProtRW);
  if (LAYOUT.guestTableBytes > paged) ops.map(d, base + paged, base + paged, LAYOUT.guestTableBytes - paged, ProtRW);
  const chunks: number[] = [];
  for (let off = 0; off < LAYOUT.guestRamBytes; off += LAYOUT.guestChunk) {
    const pa = c.data.alloc(LAYOUT.guestChunk, LAYOUT.guestChunk)!;
    ops.map(d, LAYOUT.guestRamIpa + off, pa, LAYOUT.guestChunk, ProtRW);
    chunks.push(pa);
  }
  d.guest = {
    tables: new FrameAllocator(c.granule, LAYOUT.guestTableIpa, LAYOUT.guestTableBytes),
    ram: new RangeAllocator(LAYOUT.guestRamIpa, LAYOUT.guestRamIpa + LAYOUT.guestRamBytes),
    chunks,
    view: new GuestPhysView(c.mem, c.granule),
  };
}

/**
 * The VMM moves the guest page holding a guest table (guest-physical `ipa`) to another host frame, with the
 * guest paused: copy the page, unmap it from the stage 2 (invalidated through the parent's targets, as
 * migrateGuestChunk), map the IPA to the copy, then scrub and free the old frame. Nothing else in the stage
 * 2 changes. Returns false (and does nothing) when the page is not mapped with a page of its own.
 *
 * A walk-cache entry of a nested stream is a combined structure that may hold the old frame's PA
 * (IHI 0070 4.4.3.1): only the S2_VMID_S1_CLEAR target (NH_ALL after the S2_IPA's SYNC) removes it.
 */
export function moveGuestTablePage(c: DriverCore, ops: DomainOps, parent: Domain, ipa: number): boolean {
  const g = parent.guest;
  if (g === null) throw new RangeError('not a nesting parent');
  const gran = c.granule;
  const page = ipa - (ipa % gran);
  const leaf = parent.table.walk(page).leaf;
  if (leaf === null || leaf.size !== gran) return false;
  const oldPa = leaf.pa;
  const newPa = c.tablePool.alloc();
  for (let off = 0; off < gran; off += 4) c.mem.writeU32(newPa + off, c.mem.readU32(oldPa + off));
  ops.unmap(parent, page, gran);
  ops.iotlbSync(parent);
  ops.map(parent, page, newPa, gran, ProtRW);
  g.view.remap(page, newPa);
  c.mem.zero(oldPa, gran);
  if (oldPa !== page) c.tablePool.free(oldPa);
  return true;
}

/**
 * The VMM moves guest RAM chunk `index` to other host memory: unmap it from the stage 2 (invalidated
 * through the parent's targets: S2_VMID and S2_VMID_S1_CLEAR per vSMMU, ATS_FULL per nested device), then
 * map the same IPAs to the new memory. Returns the new host-physical address.
 */
export function migrateGuestChunk(c: DriverCore, ops: DomainOps, parent: Domain, index: number): number {
  const g = parent.guest;
  if (g === null || index < 0 || index >= g.chunks.length) throw new RangeError(`no guest RAM chunk ${index}`);
  const ipa = LAYOUT.guestRamIpa + index * LAYOUT.guestChunk;
  const old = g.chunks[index]!;
  ops.unmap(parent, ipa, LAYOUT.guestChunk);
  ops.iotlbSync(parent);
  const pa = c.data.alloc(LAYOUT.guestChunk, LAYOUT.guestChunk);
  if (pa === null) throw new RangeError('out of host memory for guest RAM');
  c.data.release(old, LAYOUT.guestChunk);
  ops.map(parent, ipa, pa, LAYOUT.guestChunk, ProtRW);
  g.chunks[index] = pa;
  return pa;
}
