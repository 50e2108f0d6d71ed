/**
 * The worker pool of `campaign --jobs N`: worker threads running the case runner (campaign-worker.ts), each
 * fed the next case as soon as it posts its result.
 */
import { Worker } from 'node:worker_threads';
import type { CaseResult, CaseSpec } from '../campaign/run-case.js';

/**
 * A worker running the case runner: the built worker script next to this module, or, when the CLI runs from
 * its TypeScript sources (tests, development), the .ts script loaded through tsx registered in the worker
 * (a worker does not inherit the main thread's module hooks).
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./campaign-worker.js', import.meta.url));
  const api = import.meta.resolve('tsx/esm/api');
  const script = new URL('./campaign-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(script)}); })`;
  return new Worker(boot, { eval: true });
}

type WorkerMessage = { ok: true; result: CaseResult } | { ok: false; index: number; error: string };

/**
 * Start `jobs` workers (pushed to `workers`, which the caller terminates) and feed each the next case until
 * `next` gives null; every result goes to `onResult` before its worker gets the next case.
 */
export function runOnWorkers(
  jobs: number,
  workers: Worker[],
  next: () => CaseSpec | null,
  onResult: (r: CaseResult) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let busy = 0;
    const feed = (w: Worker): void => {
      const spec = next();
      if (spec === null) {
        if (busy === 0) resolve();
        return;
      }
      busy++;
      w.postMessage(spec);
    };
    for (let j = 0; j < jobs; j++) {
      const w = startWorker();
      workers.push(w);
      w.on('message', (msg: WorkerMessage) => {
        busy--;
        if (!msg.ok) {
          reject(new Error(`case ${msg.index}: ${msg.error}`));
          return;
        }
        onResult(msg.result);
        feed(w);
      });
      w.on('error', reject);
    }
    for (const w of workers) feed(w);
  });
}
