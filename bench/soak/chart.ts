// Small multiples in the style of bench/chart.ts: one panel per metric over the whole run, the
// warm-up shaded, and for judged metrics the line fitted after the warm-up (dashed; red when
// the metric is rising).
import { COLORS, esc, short } from '../chart.js';
import { shown, type Sample } from './sample.js';
import type { Trend } from './trend.js';

const COLUMNS = 2;
const PANEL_W = 440;
const PANEL_H = 170;
const PLOT = { left: 50, right: 28, top: 40, bottom: 24 };
const HEADER = 64;

/** Whole seconds, or minutes past three of them. */
const clock = (sec: number, minutes: boolean): string => (minutes ? `${(sec / 60).toFixed(0)} min` : `${sec.toFixed(0)} s`);

/** Round tick spacing (1, 2 or 5 × 10^k) giving at most `max` ticks over span. */
function tickStep(span: number, max: number): number {
  const raw = span / max;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
}

function panel(trend: Trend, samples: readonly Sample[], x0: number, y0: number, tMax: number, warmupSec: number): string[] {
  const { def } = trend;
  const w = PANEL_W - PLOT.left - PLOT.right;
  const h = PANEL_H - PLOT.top - PLOT.bottom;
  const points = samples.filter((s) => Number.isFinite(s[def.key])).map((s) => [s.t, shown(def, s[def.key])] as const);
  const top = Math.max(0, ...points.map(([, v]) => v));
  const yMax = (top > 0 ? top : 1) * 1.1;
  const px = (t: number): number => x0 + PLOT.left + (w * t) / tMax;
  const py = (v: number): number => y0 + PLOT.top + h - (h * v) / yMax;
  const rising = trend.verdict === 'rising';
  const unit = def.unit ? ` (${def.unit})` : '';
  const figures = [trend.start, trend.end, trend.peak].map((v) => short(shown(def, v)));
  const parts = [
    `<text x="${x0 + PLOT.left}" y="${y0 + 16}" font-size="12" font-weight="bold">${esc(def.label + unit)}</text>`,
    `<text x="${x0 + PLOT.left}" y="${y0 + 30}" fill="${rising ? COLORS.segd : '#555'}">start ${figures[0]} · end ${figures[1]} · peak ${figures[2]} · ${trend.verdict}</text>`,
    `<rect x="${px(0)}" y="${py(yMax)}" width="${px(Math.min(warmupSec, tMax)) - px(0)}" height="${h}" fill="#f2f2f2"/>`,
  ];
  for (const share of [0, 0.5, 1]) {
    const v = (yMax / 1.1) * share;
    parts.push(
      `<line x1="${px(0)}" x2="${px(tMax)}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/>`,
      `<text x="${px(0) - 4}" y="${py(v) + 4}" text-anchor="end" fill="#555">${short(v)}</text>`,
    );
  }
  const minutes = tMax >= 180;
  const step = tickStep(minutes ? tMax / 60 : tMax, 6) * (minutes ? 60 : 1);
  for (let t = 0; t <= tMax + 1e-9; t += step) {
    parts.push(`<text x="${px(t)}" y="${y0 + PANEL_H - 8}" text-anchor="middle" fill="#777" font-size="9">${clock(t, minutes)}</text>`);
  }
  if (points.length > 0) {
    const path = points.map(([t, v]) => `${px(t).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${COLORS.segd}" stroke-width="1.5"/>`);
  }
  if (trend.line) {
    const [[t1, v1], [t2, v2]] = trend.line;
    parts.push(
      `<line x1="${px(t1)}" y1="${py(shown(def, v1))}" x2="${px(t2)}" y2="${py(shown(def, v2))}" stroke="${rising ? COLORS.segd : '#333'}" stroke-width="${rising ? 2 : 1}" stroke-dasharray="5 3"/>`,
    );
  }
  return parts;
}

export function soakSvg(title: string, notes: readonly string[], samples: readonly Sample[], trends: readonly Trend[], warmupSec: number): string {
  const rows = Math.ceil(trends.length / COLUMNS);
  const width = COLUMNS * PANEL_W;
  const height = HEADER + rows * PANEL_H + 10;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${PLOT.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...notes.map((n, i) => `<text x="${PLOT.left}" y="${36 + i * 14}" fill="#555">${esc(n)}</text>`),
  ];
  trends.forEach((trend, i) => {
    parts.push(...panel(trend, samples, (i % COLUMNS) * PANEL_W, HEADER + Math.floor(i / COLUMNS) * PANEL_H, tMax, warmupSec));
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
