/**
 * A guest's view of physical memory, for the page tables a guest writes behind a vSMMU: guest-physical
 * addresses (IPAs) of the guest's table window are the host's physical addresses, except pages the VMM has
 * moved (copied to another host frame and remapped in the nesting parent's stage 2), which the guest's
 * writes and reads follow to their new frame — as a CPU's stage 2 would send them.
 *
 * The SMMU model never reads through this view: it translates the guest's table addresses with its own
 * stage-2 walks of the parent's table, so a moved page the SMMU still reaches at its old frame is a stale
 * cached translation for the checker to find, not something this view hides.
 */
import { PhysMemory } from '../pgtable/memory.js';

export class GuestPhysView extends PhysMemory {
  /** Moved pages: guest-physical page → host-physical page. */
  private readonly moved = new Map<number, number>();

  constructor(
    private readonly host: PhysMemory,
    /** Size of the pages the VMM moves (the translation granule). */
    private readonly pageBytes: number,
  ) {
    super();
  }

  /** The host-physical address behind guest-physical `ipa`. */
  hostAddress(ipa: number): number {
    const off = ipa % this.pageBytes;
    const p = this.moved.get(ipa - off);
    return p === undefined ? ipa : p + off;
  }

  /** The VMM moved guest page `ipaPage` to host page `paPage`. */
  remap(ipaPage: number, paPage: number): void {
    if (ipaPage === paPage) this.moved.delete(ipaPage);
    else this.moved.set(ipaPage, paPage);
  }

  override readU32(ipa: number): number {
    return this.host.readU32(this.hostAddress(ipa));
  }

  override writeU32(ipa: number, value: number): void {
    this.host.writeU32(this.hostAddress(ipa), value);
  }

  override zero(ipa: number, bytes: number): void {
    for (let off = 0; off < bytes; off += 4096) this.host.zero(this.hostAddress(ipa + off), 4096);
  }
}
