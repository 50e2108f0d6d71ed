/**
 * The drawing of a plan (SVG): the address axis of the request, one bar per emitted command at the span it
 * invalidates (read back from the words), lanes per SMMU and tag, CMD_SYNC batch boundaries, the ATC_INV
 * span and whole-tag commands drawn across everything. Also the side-by-side summary of the two policies
 * and the details of the selected command.
 */
import { fieldsToJson, wordsToJson, type Command } from '../../src/cmdq/index.js';
import { hexAddr } from '../../src/bits.js';
import type { PlanStats } from '../../src/tlbi/index.js';
import { h, s } from './dom.js';
import { commandTag, type CommandClass, type Span } from './span.js';
import { granuleLog2OfTg } from '../../src/units.js';

import type { Policy } from '../../src/tlbi/plan.js';

export type { Policy };

/** One entry of a plan, decoded from the words the engine wrote. */
export interface PlanEntry {
  readonly index: number;
  readonly smmu: number;
  readonly halves: readonly [number, number, number, number];
  readonly cmd: Command;
  readonly cls: CommandClass;
  readonly span: Span;
}

export interface PlanModel {
  readonly policy: Policy;
  /** What the policy was asked (shown under its title). */
  readonly request: string;
  readonly entries: readonly PlanEntry[];
  /** The request range [start, end), or null for "everything" (size 0). */
  readonly range: { readonly start: number; readonly end: number } | null;
  readonly pgsize: number;
  /** The core's statistics of the plan (the same as `plan --json` prints). */
  readonly stats: PlanStats;
}

// Layout (SVG user units; the SVG scales to the width of its box).
const Width = 1000;
const LabelWidth = 200;
const PlotX0 = LabelWidth + 16;
const PlotX1 = Width - 24;
const AxisY = 44;
const TopPad = 64;
const RowH = 24;
const RowGap = 5;
const SyncH = 20;
const SmmuHeadH = 22;
const BottomPad = 14;
/** Bars narrower than this (user units) get no label; below LongLabel they get the short one. */
const ShortLabel = 62;
const LongLabel = 200;
/** A span more than this many times wider than the range is clipped at the plot edge. */
const ClipFactor = 4;

/** The address window both drawings share: the range, widened to the TLBI spans (ATC spans may be clipped). */
export function sharedWindow(models: readonly PlanModel[]): { lo: number; hi: number } | null {
  const r = models.find((m) => m.range)?.range;
  if (!r) return null;
  let lo = r.start;
  let hi = r.end;
  const size = r.end - r.start;
  for (const m of models)
    for (const e of m.entries) {
      if (e.span.kind !== 'range') continue;
      if (e.span.end - e.span.start > ClipFactor * size && e.cls === 'atc') continue;
      lo = Math.min(lo, e.span.start);
      hi = Math.max(hi, e.span.end);
    }
  return { lo, hi };
}

interface Lane {
  readonly smmu: number;
  readonly label: string;
  readonly cls: CommandClass;
  readonly y: number;
  lastEnd: number;
  readonly key: string;
}

export interface DrawHandlers {
  readonly selected: string;
  select(id: string): void;
  hover(id: string | null): void;
}

/** Draw one policy's plan. `win` is the shared address window (null: the request is "everything"). */
export function drawPlan(m: PlanModel, win: { lo: number; hi: number } | null, hd: DrawHandlers): SVGSVGElement {
  const lo = win?.lo ?? 0;
  const hi = win?.hi ?? 1;
  const x = (a: number): number => PlotX0 + ((Math.min(Math.max(a, lo), hi) - lo) / (hi - lo)) * (PlotX1 - PlotX0);

  // Lay out rows: a header per SMMU, lanes per (batch, command, tag) packed so bars never overlap, and a
  // CMD_SYNC strip after each batch.
  const rows: SVGElement[] = [];
  const bars: SVGElement[] = [];
  let y = TopPad;
  let smmu = -1;
  let batch = 0;
  let lanes: Lane[] = [];
  let lastLane: Lane | null = null;
  const entries = m.entries;
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!;
    if (e.smmu !== smmu) {
      smmu = e.smmu;
      lanes = [];
      rows.push(
        s('text', { x: 8, y: y + 15, class: 'smmu-head' }, `SMMU ${smmu}`),
        s('line', { x1: 8, x2: PlotX1, y1: y + 20, y2: y + 20, class: 'smmu-rule' }),
      );
      y += SmmuHeadH;
    }
    const id = `${m.policy}.${e.index}`;
    if (e.cls === 'sync') {
      // A CMD_SYNC in the middle of one target's loop (force-sync) is a tick on that lane; one that ends a
      // batch is a line across, and the next batch starts new lanes.
      const next = entries[k + 1];
      const prev = entries[k - 1];
      if (
        lastLane &&
        prev &&
        next &&
        next.smmu === e.smmu &&
        laneKey(next) === laneKey(prev) &&
        prev.span.kind === 'range'
      ) {
        bars.push(syncTick(e, x(prev.span.end), lastLane.y, id, hd));
        continue;
      }
      rows.push(syncStrip(e, y, id, hd));
      y += SyncH;
      batch++;
      lanes = [];
      lastLane = null;
      continue;
    }
    const tag = commandTag(e.cmd);
    const key = `${batch}|${laneKey(e)}`;
    const start = e.span.kind === 'range' ? e.span.start : -Infinity;
    let lane = lanes.find((l) => l.key === key && l.lastEnd <= start);
    if (!lane) {
      lane = {
        smmu,
        label: `${e.cmd.name.replace(/^TLBI_/, '')} ${tag}`.trim(),
        cls: e.cls,
        y,
        lastEnd: -Infinity,
        key,
      };
      lanes.push(lane);
      rows.push(s('text', { x: 14, y: y + RowH / 2 + 4, class: 'lane-label' }, lane.label));
      y += RowH + RowGap;
    }
    lane.lastEnd = e.span.kind === 'range' ? e.span.end : Infinity;
    lastLane = lane;
    bars.push(bar(m, e, lane.y, x, win, hd));
  }
  const height = y + BottomPad;

  const svg = s('svg', {
    viewBox: `0 0 ${Width} ${height}`,
    width: '100%',
    class: 'plan',
    'data-policy': m.policy,
    role: 'img',
    'aria-label': `${m.policy} plan: ${m.entries.length} entries`,
  });
  svg.append(defs());
  // The request band behind everything, the axis on top.
  if (m.range && win) {
    const bx0 = x(m.range.start);
    const bx1 = x(m.range.end);
    svg.append(
      s('rect', { x: bx0, y: AxisY, width: Math.max(bx1 - bx0, 1), height: height - AxisY - 6, class: 'band' }),
      s('line', { x1: bx0, x2: bx0, y1: AxisY, y2: height - 6, class: 'band-edge' }),
      s('line', { x1: bx1, x2: bx1, y1: AxisY, y2: height - 6, class: 'band-edge' }),
    );
  }
  svg.append(axis(m, win, x));
  svg.append(...rows, ...bars);
  delegate(svg, hd);
  return svg;
}

function defs(): SVGDefsElement {
  return s(
    'defs',
    {},
    s(
      'pattern',
      { id: 'hatch-over', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      s('rect', { width: 6, height: 6, fill: 'rgba(220,38,38,0.18)' }),
      s('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#dc2626', 'stroke-width': 2.5 }),
    ),
    s(
      'pattern',
      { id: 'hatch-whole', width: 10, height: 10, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      s('rect', { width: 10, height: 10, fill: '#7c3aed' }),
      s('line', { x1: 0, y1: 0, x2: 0, y2: 10, stroke: '#6d28d9', 'stroke-width': 5 }),
    ),
  );
}

function axis(m: PlanModel, win: { lo: number; hi: number } | null, x: (a: number) => number): SVGGElement {
  const g = s('g', { class: 'axis' });
  g.append(s('line', { x1: PlotX0, x2: PlotX1, y1: AxisY, y2: AxisY, class: 'axis-line' }));
  if (!win) {
    g.append(
      s(
        'text',
        { x: (PlotX0 + PlotX1) / 2, y: AxisY - 10, class: 'tick-label', 'text-anchor': 'middle' },
        'size 0: the whole address space',
      ),
    );
    return g;
  }
  // Ticks at the command boundaries when they are few (they tell the story: 1 + 32 pages), else evenly.
  const marks = new Set<number>([win.lo, win.hi]);
  if (m.range) {
    marks.add(m.range.start);
    marks.add(m.range.end);
  }
  for (const e of m.entries)
    if (e.span.kind === 'range' && e.cls !== 'atc') {
      marks.add(Math.max(win.lo, Math.min(win.hi, e.span.start)));
      marks.add(Math.max(win.lo, Math.min(win.hi, e.span.end)));
    }
  let ticks = [...marks].sort((a, b) => a - b);
  if (ticks.length > 9) {
    const step = (win.hi - win.lo) / 6;
    const unit = m.pgsize;
    ticks = [win.lo];
    for (let k = 1; k < 6; k++) ticks.push(win.lo + Math.round((step * k) / unit) * unit);
    ticks.push(win.hi);
  }
  let lastX = -Infinity;
  let alt = false;
  for (const t of ticks) {
    const tx = x(t);
    g.append(s('line', { x1: tx, x2: tx, y1: AxisY - 4, y2: AxisY + 4, class: 'tick' }));
    alt = tx - lastX < 110 ? !alt : false;
    const anchor = tx > PlotX1 - 45 ? 'end' : tx < PlotX0 + 45 ? 'start' : 'middle';
    g.append(
      s('text', { x: tx, y: alt ? AxisY - 22 : AxisY - 9, class: 'tick-label', 'text-anchor': anchor }, hexAddr(t)),
    );
    lastX = tx;
  }
  return g;
}

function laneKey(e: PlanEntry): string {
  return `${e.cmd.name}|${commandTag(e.cmd)}`;
}

/** A CMD_SYNC inside a loop: a short vertical mark on the lane, at the address where the batch stopped. */
function syncTick(e: PlanEntry, tx: number, y: number, id: string, hd: DrawHandlers): SVGGElement {
  return s(
    'g',
    {
      class: `sync tick${hd.selected === id ? ' selected' : ''}`,
      'data-cmd': 'CMD_SYNC',
      'data-index': e.index,
      'data-smmu': e.smmu,
      'data-id': id,
      tabindex: 0,
    },
    s('rect', { x: tx - 4, y: y - 4, width: 8, height: RowH + 8, class: 'sync-hit' }),
    s('line', { x1: tx, x2: tx, y1: y - 4, y2: y + RowH + 4, class: 'sync-tick' }),
    s('title', {}, `CMD_SYNC on SMMU ${e.smmu} inside the loop (force-sync: at most 63 commands per batch)`),
  );
}

function syncStrip(e: PlanEntry, y: number, id: string, hd: DrawHandlers): SVGGElement {
  const g = s('g', {
    class: `sync${hd.selected === id ? ' selected' : ''}`,
    'data-cmd': 'CMD_SYNC',
    'data-index': e.index,
    'data-smmu': e.smmu,
    'data-id': id,
    tabindex: 0,
  });
  const mid = y + SyncH / 2;
  g.append(
    s('rect', { x: 8, y: y + 1, width: PlotX1 - 8, height: SyncH - 2, class: 'sync-hit' }),
    s('line', { x1: PlotX0, x2: PlotX1, y1: mid, y2: mid, class: 'sync-line' }),
    s('rect', { x: 14, y: mid - 8, width: 120, height: 16, rx: 8, class: 'sync-pill' }),
    s('text', { x: 74, y: mid + 4, class: 'sync-text', 'text-anchor': 'middle' }, `CMD_SYNC · SMMU ${e.smmu}`),
    s('title', {}, `CMD_SYNC on SMMU ${e.smmu}: the commands above complete before anything below starts`),
  );
  return g;
}

/**
 * One set of listeners per drawing (not per bar: a plan may hold thousands of commands): the element under
 * the pointer that carries a `data-id` is the bar or CMD_SYNC line meant.
 */
function delegate(svg: SVGSVGElement, hd: DrawHandlers): void {
  const idOf = (t: EventTarget | null): string | null =>
    t instanceof Element ? (t.closest('[data-id]')?.getAttribute('data-id') ?? null) : null;
  let over: string | null = null;
  svg.addEventListener('click', (ev) => {
    const id = idOf(ev.target);
    if (id) hd.select(id);
  });
  svg.addEventListener('keydown', (ev) => {
    const id = idOf(ev.target);
    if (id && (ev.key === 'Enter' || ev.key === ' ')) {
      ev.preventDefault();
      hd.select(id);
    }
  });
  svg.addEventListener('mouseover', (ev) => {
    const id = idOf(ev.target);
    if (id !== over) {
      over = id;
      hd.hover(id);
    }
  });
  svg.addEventListener('mouseleave', () => {
    over = null;
    hd.hover(null);
  });
}

function bar(
  m: PlanModel,
  e: PlanEntry,
  y: number,
  x: (a: number) => number,
  win: { lo: number; hi: number } | null,
  hd: DrawHandlers,
): SVGGElement {
  const id = `${m.policy}.${e.index}`;
  const c = e.cmd;
  const whole = e.span.kind !== 'range';
  const x0 = whole ? PlotX0 : x(e.span.start);
  const x1 = whole ? PlotX1 : x(e.span.end);
  const w = Math.max(x1 - x0, 1.5);
  const clippedLeft = !whole && win !== null && e.span.kind === 'range' && e.span.start < win.lo;
  const clippedRight = !whole && win !== null && e.span.kind === 'range' && e.span.end > win.hi;
  const kind = e.cls === 'atc' ? 'atc' : whole ? 'whole' : 'range';
  const g = s('g', {
    class: `bar ${kind}${e.index % 2 ? ' odd' : ''}${hd.selected === id ? ' selected' : ''}`,
    'data-id': id,
    tabindex: 0,
  });
  const rec = c as unknown as Record<string, number>;
  const rect = s('rect', {
    x: x0,
    y,
    width: w,
    height: RowH,
    rx: 3,
    'data-cmd': c.name,
    'data-kind': kind,
    'data-index': e.index,
    'data-smmu': e.smmu,
    'data-tag': commandTag(c),
    'data-policy': m.policy,
    'data-start': e.span.kind === 'range' ? hexAddr(e.span.start) : undefined,
    'data-end': e.span.kind === 'range' ? hexAddr(e.span.end) : undefined,
    'data-whole': whole ? '1' : undefined,
    'data-num': rec.num,
    'data-scale': rec.scale,
    'data-ttl': rec.ttl,
    'data-tg': rec.tg,
    'data-leaf': rec.leaf,
  });
  g.append(rect);
  // The part of a bar outside the request range (over-invalidation) is hatched red.
  if (!whole && m.range && e.span.kind === 'range') {
    for (const [a, b] of [
      [e.span.start, Math.min(e.span.end, m.range.start)],
      [Math.max(e.span.start, m.range.end), e.span.end],
    ] as const) {
      if (b > a) {
        const ox0 = x(a);
        const ox1 = x(b);
        if (ox1 - ox0 > 0.5)
          g.append(
            s('rect', {
              x: ox0,
              y: y + 1,
              width: ox1 - ox0,
              height: RowH - 2,
              class: 'over',
              fill: 'url(#hatch-over)',
            }),
          );
      }
    }
  }
  if (whole) {
    // Chevrons at both ends: it reaches past the axis, over every address under its tag.
    const cy = y + RowH / 2;
    for (const [cx, dir] of [
      [x0 + 6, -1],
      [x0 + 14, -1],
      [x1 - 6, 1],
      [x1 - 14, 1],
    ] as const)
      g.append(s('path', { d: `M${cx - dir * 3},${cy - 6} l${dir * 5},6 l${-dir * 5},6`, class: 'whole-mark' }));
  }
  if (clippedLeft)
    g.append(s('path', { d: `M${x0 + 10},${y + 5} l-7,${RowH / 2 - 5} l7,${RowH / 2 - 5}`, class: 'clip-mark' }));
  if (clippedRight)
    g.append(s('path', { d: `M${x1 - 10},${y + 5} l7,${RowH / 2 - 5} l-7,${RowH / 2 - 5}`, class: 'clip-mark' }));
  const label = barLabel(c, e, w);
  if (label)
    g.append(s('text', { x: x0 + w / 2, y: y + RowH / 2 + 4, class: 'bar-label', 'text-anchor': 'middle' }, label));
  g.append(s('title', {}, `${c.name} #${e.index} (SMMU ${e.smmu})\n${spanText(e)}`));
  return g;
}

function barLabel(c: Command, e: PlanEntry, w: number): string {
  if (w < ShortLabel) return '';
  const r = c as unknown as Record<string, number>;
  if (e.cls === 'tlbi-whole') {
    if (w < LongLabel) return c.name;
    return c.name === 'TLBI_NH_ALL'
      ? `${c.name} ${commandTag(c)} — every stage-1 entry of the VM (nested)`
      : `${c.name} ${commandTag(c)} — whole tag, replaces the range loop`;
  }
  if (e.cls === 'atc') {
    const sz = r.size!;
    return sz >= 52
      ? 'ATC_INV Size 52 — whole ATC'
      : w >= LongLabel
        ? `ATC_INV Size ${sz} (${2 ** sz} × 4K)`
        : `Size ${sz}`;
  }
  if (w >= LongLabel * 1.35 && e.span.kind === 'range' && r.tg !== 0) {
    const pages = (e.span.end - e.span.start) / 2 ** granuleLog2OfTg(r.tg!);
    return `NUM ${r.num} · SCALE ${r.scale} · TTL ${r.ttl} · TG ${r.tg}  (${pages} page${pages === 1 ? '' : 's'})`;
  }
  if (w >= LongLabel) return `NUM ${r.num} · SCALE ${r.scale} · TTL ${r.ttl} · TG ${r.tg}`;
  if (w >= ShortLabel * 1.6) return `N${r.num} S${r.scale} T${r.ttl} G${r.tg}`;
  return `S${r.scale}`;
}

export function spanText(e: PlanEntry): string {
  if (e.span.kind === 'range') {
    const bytes = e.span.end - e.span.start;
    return `covers [${hexAddr(e.span.start)}, ${hexAddr(e.span.end)}) = ${sizeText(bytes)}`;
  }
  if (e.span.kind === 'whole') return `covers everything under ${commandTag(e.cmd) || 'its scope'}`;
  return '';
}

export function sizeText(bytes: number): string {
  const units: [number, string][] = [
    [2 ** 40, 'T'],
    [2 ** 30, 'G'],
    [2 ** 20, 'M'],
    [2 ** 10, 'K'],
  ];
  for (const [u, n] of units) if (bytes >= u && bytes % u === 0) return `${bytes / u}${n}`;
  return `${bytes} bytes`;
}

/** The details panel of one entry: name, SMMU, span, the two 64-bit words, every decoded field. */
export function entryDetails(m: PlanModel, e: PlanEntry): HTMLElement {
  const [w0, w1] = wordsToJson(...e.halves);
  const fields = fieldsToJson(e.cmd);
  return h(
    'div',
    { class: 'entry-details', 'data-id': `${m.policy}.${e.index}` },
    h(
      'div',
      { class: 'det-head' },
      h('span', { class: 'det-name' }, e.cmd.name),
      ` #${e.index} · ${m.policy} policy · SMMU ${e.smmu}`,
    ),
    h('div', { class: 'det-span' }, spanText(e)),
    h(
      'div',
      { class: 'words' },
      h('span', { class: 'wlabel' }, 'w0'),
      h('code', { class: 'word', 'data-word': 0 }, w0),
      h('span', { class: 'wlabel' }, 'w1'),
      h('code', { class: 'word', 'data-word': 1 }, w1),
    ),
    h(
      'table',
      { class: 'fields' },
      h(
        'tbody',
        {},
        ...Object.entries(fields).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', { class: 'mono' }, String(v)))),
      ),
    ),
  );
}
