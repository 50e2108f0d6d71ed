/**
 * Replay files in the simulate view: open a counterexample `smmuv3-tlbi campaign` wrote (the JSON that
 * `simulate --replay FILE` reads), replay it in the page and show what the CLI prints for it — the
 * operations, the commands each SMMU received and the stale entries — line for line (both come from
 * src/campaign/replay.ts), then the cache view around the change that failed. The replay is deterministic:
 * the same file shows the same lines every time. A file that is not a replay shows one message that names
 * the wrong field, as the CLI's exit-2 message does.
 */
import { ReplayFieldError, parseReplay, replayLines } from '../../src/campaign/replay.js';
import { InputError } from '../../src/parse.js';
import { parseStrictJson } from '../../src/schema/json.js';
import { runSimulation } from '../../src/sim/workload.js';
import { captureSection } from './cache-view.js';
import { byId, h } from './dom.js';

/** The file picker and its hint, placed under the simulate form. */
export function replayPicker(): HTMLElement {
  const input = h('input', { type: 'file', id: 's-replay', accept: '.json,application/json' });
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (!file) return;
    void file.text().then(
      (text) => showReplay(file.name, text),
      (e: unknown) => showReplayError(file.name, `${file.name}: cannot read it (${(e as Error).message})`),
    );
    // Choosing the same file again replays it again.
    input.value = '';
  });
  return h(
    'div',
    { class: 'sim-replay' },
    h('label', {}, h('span', {}, 'open a replay file '), input),
    h(
      'p',
      { class: 'hint' },
      'A counterexample that smmuv3-tlbi campaign wrote (--replay-dir): replayed here exactly as ',
      h('code', {}, 'simulate --replay FILE'),
      ' replays it.',
    ),
  );
}

function showReplayError(name: string, message: string): void {
  const out = byId('sim-out');
  out.replaceChildren(h('div', { class: 'banner', id: 'replay-error', role: 'alert' }, message));
  out.dataset.replayShown = name;
}

/** Replay the text of file `name` and show the result in the view's output. Never throws. */
export function showReplay(name: string, text: string): void {
  const out = byId('sim-out');
  let parsed: ReturnType<typeof parseReplay>;
  try {
    parsed = parseReplay(parseStrictJson(text, name));
  } catch (e) {
    if (e instanceof ReplayFieldError) return showReplayError(name, `${name}: ${e.message}`);
    if (e instanceof InputError) return showReplayError(name, e.message);
    return showReplayError(name, `internal error: ${(e as Error).message}`);
  }
  const { doc, cfg } = parsed;
  try {
    const r = runSimulation(cfg);
    const verdict =
      r.stale === 0
        ? h('div', { class: 'verdict ok', 'data-stale': 0 }, 'No stale translation: the replay does not fail.')
        : h(
            'div',
            { class: 'verdict bad', 'data-stale': r.stale },
            `${r.stale} stale translation${r.stale === 1 ? '' : 's'} found`,
          );
    out.replaceChildren(
      verdict,
      h('h3', {}, `Replay of ${name}`),
      h('pre', { id: 'replay-text', class: 'replay-text' }, replayLines(name, doc, cfg, r).join('\n')),
      captureSection(cfg, r.capture ?? null),
    );
    out.dataset.replayShown = name;
  } catch (e) {
    showReplayError(name, `internal error: ${(e as Error).message}`);
  }
}
