/**
 * The kernel-driver consumer and ATS: the device-wide ATC flush when a master leaves a domain (with the
 * check that whatever its ATC still holds translates as its current configuration does), and the handling
 * of an ATC invalidation timeout (CERROR_ATC_INV_SYNC): the masters behind it are quarantined before their
 * IOVAs or memory can be reused.
 */
import type { AtcEntry } from '../../smmu/caches.js';
import type { StaleReport } from '../../smmu/checker.js';
import { invalidateRange, invsOf, type InvKey } from '../../tlbi/index.js';
import type { SmmuPort } from '../smmu-port.js';
import { cfgiSte } from '../ste-update.js';
import { portOf, sidKey, type DriverCore } from './core.js';
import type { Domain, Master } from './domain.js';
import { EVERYTHING, planAndRun } from './routing.js';
import { installStreams } from './streams.js';

/**
 * A master with ATS left `old` at `pasid` (its STE/CD already changed): flush its ATC (ATC_INV Size 52 +
 * CMD_SYNC on each StreamID, one engine plan), then check what the ATC still holds against the master's
 * current configuration (a lazy domain's deferred unmaps excepted: checked when its queue flushes).
 */
export function flushReleasedAtc(c: DriverCore, m: Master, old: Domain, pasid: number): void {
  const keys: InvKey[] = m.sids.map((sid) => ({ smmu: m.smmu, type: 'ATS', id: sid, ssid: pasid }));
  c.counters.atcFlushes++;
  c.inRelease = m;
  try {
    // Injection point (fault no-atc-on-detach, L3): the driver trusts the ATS disable to empty the ATC.
    if (c.injection.onDetachAtcFlush?.() !== false)
      planAndRun(c, old, (out) => invalidateRange(invsOf(keys), EVERYTHING, c.smmuTable, out), null);
  } finally {
    c.inRelease = null;
  }
  // Whatever the device's ATC still holds must translate as its current configuration does.
  const port = portOf(c, m.smmu);
  if (!port.powered) return;
  const left: AtcEntry[] = [];
  for (const sid of m.sids) port.model.atc.overlapping(sid, pasid === 0 ? undefined : pasid, 0, 2 ** 64, left);
  const reports: StaleReport[] = [];
  for (const e of left) {
    // A lazy domain's deferred unmaps may legitimately still be cached (checked when its queue flushes).
    const cur = e.ssid === 0 ? m.rid : m.pasids.get(e.ssid);
    if (cur !== null && cur !== undefined && cur.mode === 'lazy' && !cur.deferred.isEmpty) continue;
    port.checker.checkAtc(port.model, e, [], reports);
  }
  c.stale.note(reports);
}

/**
 * A CMD_SYNC on `port` raised CERROR_ATC_INV_SYNC (the port did the GERRORN handshake and the queue
 * drained): the ATC_INVs it waited for, to `sids`, gave no guarantee (IHI 0070 4.7.3), so the range they
 * covered is not clean — the device's ATC may still translate the unmapped IOVAs to memory that is about
 * to be reused. Every master with one of those StreamIDs is quarantined before anything else happens
 * (the caller gives IOVAs and memory back only after this returns). Fault `ignore-atc-timeout`: the
 * driver carries on as if the SYNC had succeeded (Linux before its 2026 quarantine work).
 */
export function atcTimedOut(c: DriverCore, port: SmmuPort, sids: readonly number[]): void {
  c.counters.atcTimeouts++;
  if (c.injection.onAtcSyncTimeout?.() === false) return;
  const ms: Master[] = [];
  for (const sid of sids) {
    const m = c.bySid.get(sidKey(port.id, sid));
    if (m !== undefined && m.ats && !ms.includes(m)) ms.push(m);
  }
  for (const m of ms) quarantine(c, m);
}

/**
 * Quarantine a master whose ATC invalidation timed out: its STEs are blocked (Config abort, CFGI_STE +
 * CMD_SYNC: from then on the SMMU terminates its transactions, translated ones included, so whatever its
 * ATC holds cannot reach memory), the endpoint is reset (a function-level reset empties its ATC, IHI 0070
 * 3.9.1.4), and only then are its STEs and CDs installed again as its attachments say.
 */
function quarantine(c: DriverCore, m: Master): void {
  const port = portOf(c, m.smmu);
  if (!port.powered) return;
  c.counters.quarantines++;
  const model = port.model;
  for (const sid of m.sids) model.writeStreamInvalid(sid);
  port.submitCommands(
    m.sids.map((sid) => cfgiSte(sid)),
    c.stats,
    c.injection,
  );
  for (const sid of m.sids) model.resetEndpoint(sid);
  installStreams(c, m, 0);
}
