/**
 * The worker-thread shell of `campaign --jobs N`: it receives case specifications from the main thread,
 * runs each with the core's case runner (src/campaign/run-case.ts) and posts the result back.
 */
import { parentPort } from 'node:worker_threads';
import { runCase, type CaseSpec } from '../campaign/run-case.js';

const port = parentPort;
if (port === null) throw new Error('campaign-worker.ts runs in a worker thread');
port.on('message', (spec: CaseSpec) => {
  try {
    port.postMessage({ ok: true, result: runCase(spec) });
  } catch (e) {
    port.postMessage({ ok: false, index: spec.index, error: (e as Error)?.stack ?? String(e) });
  }
});
