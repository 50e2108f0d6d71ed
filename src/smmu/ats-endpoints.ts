/**
 * The ATS endpoints behind an SMMU model, as far as ATC invalidation completes: an endpoint may not answer
 * ATS Invalidate Requests (a hung or slow device), which the SMMU sees as a completion timeout.
 *
 * What the model does with a timeout (IHI 0070 3.9.1.4, 4.7.3; CONS.ERR codes 4.1.3):
 * - Each ATC_INV consumed sends one request to its StreamID's endpoint. An endpoint set to let its next n
 *   requests time out (`setTimeouts(sid, n)`, n may be Infinity: until reset) fails that many; a request
 *   that times out invalidates nothing, now or later (the SMMU stopped waiting for it: like a UR response it
 *   gives no guarantee, and no later CMD_SYNC gives one either).
 * - The timeout is asynchronous and only reported by a CMD_SYNC, which cannot say which ATC_INV failed: the
 *   next CMD_SYNC raises CERROR_ATC_INV_SYNC (CONS.ERR = 0b011), is not consumed (CONS stays on it), sends
 *   no completion signal and gives none of its guarantees: the invalidations before it stay pending.
 * - After GERRORN acknowledges the error, the SMMU executes the same CMD_SYNC again. Timeouts not yet
 *   reported make it fail again: the adversary reports them one per execution (timers that expired after
 *   the first report), so a CMD_SYNC after k timed-out requests fails up to k times. Once every timeout is
 *   reported it completes as usual, completing the TLB invalidations before it — but not the lost ATC
 *   invalidations: software must issue them again, or stop the device from using its ATC.
 * - `reset(sid)` is a function-level reset of the endpoint: its ATC is emptied and it answers again.
 */

export class AtsEndpoints {
  /** Requests each endpoint (by StreamID) still lets time out. */
  private readonly left = new Map<number, number>();
  /** Requests that timed out and that no CMD_SYNC has reported yet. */
  unreported = 0;
  /** Totals: requests that timed out; CMD_SYNC executions that raised CERROR_ATC_INV_SYNC. */
  timedOut = 0;
  syncErrors = 0;

  /** The endpoint of `sid` lets its next `n` ATS Invalidate Requests time out (0: answers all; Infinity: none). */
  setTimeouts(sid: number, n: number): void {
    if (!(n >= 0) || (!Number.isInteger(n) && n !== Infinity))
      throw new RangeError(`endpoint timeouts must be a whole number ≥ 0 or Infinity (got ${n})`);
    if (n === 0) this.left.delete(sid);
    else this.left.set(sid, n);
  }

  /** Requests the endpoint of `sid` still lets time out. */
  timeoutsLeft(sid: number): number {
    return this.left.get(sid) ?? 0;
  }

  /** True when some endpoint may still let a request time out. */
  get any(): boolean {
    return this.left.size > 0;
  }

  /** Send one ATS Invalidate Request to the endpoint of `sid`: true when it times out. */
  request(sid: number): boolean {
    const n = this.left.get(sid);
    if (n === undefined) return false;
    if (n !== Infinity) {
      if (n <= 1) this.left.delete(sid);
      else this.left.set(sid, n - 1);
    }
    this.timedOut++;
    this.unreported++;
    return true;
  }

  /** A CMD_SYNC executes: true when it must raise CERROR_ATC_INV_SYNC (one unreported timeout is reported). */
  takeReport(): boolean {
    if (this.unreported === 0) return false;
    this.unreported--;
    this.syncErrors++;
    return true;
  }

  /** Function-level reset of the endpoint of `sid`: it answers again (the caller empties its ATC). */
  reset(sid: number): void {
    this.left.delete(sid);
  }

  /** Power loss: nothing is outstanding any more. */
  clearOutstanding(): void {
    this.unreported = 0;
  }
}
