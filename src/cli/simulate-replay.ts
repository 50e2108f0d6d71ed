/**
 * `smmuv3-tlbi simulate --replay FILE`: run a replay file (written by `campaign` for a failing workload case,
 * see src/campaign/shrink.ts) and print, for a person, the configuration, every operation, the commands of
 * the change that left a stale translation (per SMMU, as the SMMU received them) and the stale entries.
 * The same file gives the same output every time (the model's choices are seeded). Exit 0 when the replay
 * leaves no stale translation, 1 when it does, 2 for a file that is not a replay. Checking the document and
 * the text it prints live in the core (src/campaign/replay.ts), shared with the page's simulate view.
 */
import { readFileSync } from 'node:fs';
import { ReplayFieldError, parseReplay, replayLines } from '../campaign/replay.js';
import type { ReplayDocument } from '../campaign/run-case.js';
import { runSimulation, type SimConfig } from '../sim/workload.js';
import { EXIT_CHECK_FAILED, EXIT_OK, UsageError, out, parseJsonText, printJson, warn } from './common.js';

/** Read and check a replay file; the workload configuration and the operations. */
export function readReplay(file: string): { doc: ReplayDocument; cfg: SimConfig } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--replay ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const d = parseJsonText(text, `--replay ${file}`);
  try {
    return parseReplay(d);
  } catch (e) {
    if (e instanceof ReplayFieldError) throw new UsageError(`--replay ${file}: ${e.message}`);
    throw e;
  }
}

/** Run `simulate --replay FILE [--json]`; the exit status. */
export function runReplayCommand(file: string, json: boolean): number {
  const { doc, cfg } = readReplay(file);
  const r = runSimulation(cfg);
  if (json) {
    const { elapsedMs: _e, opsPerSecond: _o, ...rest } = r;
    printJson({ kind: 'replay-run', file, case: doc.case, workload: doc.workload, script: cfg.script, report: rest });
  } else for (const line of replayLines(file, doc, cfg, r)) out(line);
  if (r.stale > 0) warn(`${r.stale} stale translations (replay ${file})`);
  return r.stale > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}
