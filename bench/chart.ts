// A hand-written SVG bar chart: one group of bars per scenario (or figure), one bar per server,
// each bar's height relative to the best bar of its group, labelled with the absolute figure.
import type { ServerName } from './options.js';
import type { BenchReport } from './report.js';

export const COLORS: Record<ServerName, string> = {
  segd: '#d62728',
  nginx: '#2ca02c',
  'nginx-aio': '#98df8a',
  'fastify-static': '#1f77b4',
  'serve-static': '#9467bd',
  bare: '#7f7f7f',
  'bare-pread': '#c7c7c7',
};

/** Scenarios whose figure of merit is bytes per second rather than requests per second. */
const BYTE_SCENARIOS = new Set(['segments', 'ranges', 'cold', 'mix', 'disk']);

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function short(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2);
}

export interface ChartBar {
  series: string;
  value: number;
  /** Tooltip text. */
  title: string;
  /** Drawn hatched (e.g. generator-bound). */
  hatched?: boolean;
}

export interface ChartGroup {
  label: string;
  unit: string;
  bars: ChartBar[];
}

export interface BarChart {
  title: string;
  /** Lines under the title. */
  notes: string[];
  /** Series in legend order, with their colours. */
  series: { name: string; color: string }[];
  groups: ChartGroup[];
}

export function barChartSvg(c: BarChart): string {
  const bar = 22;
  const gap = 4;
  const groupW = Math.max(1, c.series.length) * (bar + gap) + 30;
  const left = 50;
  const top = 50 + 14 * c.notes.length;
  const plotH = 260;
  const width = Math.max(720, left + c.groups.length * groupW + 20);
  const height = top + plotH + 90;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
    ...c.notes.map((n, i) => `<text x="${left}" y="${36 + 14 * i}" fill="#555">${esc(n)}</text>`),
    `<defs><pattern id="gb" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#fff" fill-opacity="0.5"/></pattern></defs>`,
  );
  for (const pct of [0, 50, 100]) {
    const y = top + plotH - (plotH * pct) / 100;
    parts.push(
      `<line x1="${left - 4}" x2="${width - 10}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end" fill="#555">${pct}%</text>`,
    );
  }
  c.groups.forEach((g, gi) => {
    const best = Math.max(0, ...g.bars.map((b) => b.value));
    const x0 = left + gi * groupW + 10;
    c.series.forEach((s, si) => {
      const b = g.bars.find((x) => x.series === s.name);
      const x = x0 + si * (bar + gap);
      if (!b || best <= 0 || !Number.isFinite(b.value)) {
        parts.push(`<text x="${x + bar / 2}" y="${top + plotH - 4}" text-anchor="middle" fill="#999">–</text>`);
        return;
      }
      const h = Math.max(1, (plotH * b.value) / best);
      const y = top + plotH - h;
      parts.push(`<rect x="${x}" y="${y}" width="${bar}" height="${h}" fill="${s.color}"><title>${esc(b.title)}</title></rect>`);
      if (b.hatched) parts.push(`<rect x="${x}" y="${y}" width="${bar}" height="${h}" fill="url(#gb)"/>`);
      parts.push(
        `<text x="${x + bar / 2}" y="${y - 3}" text-anchor="middle" font-size="9" transform="rotate(-45 ${x + bar / 2} ${y - 3})">${short(b.value)}</text>`,
      );
    });
    const mid = x0 + (c.series.length * (bar + gap)) / 2;
    parts.push(
      `<text x="${mid}" y="${top + plotH + 16}" text-anchor="middle">${esc(g.label)}</text>`,
      `<text x="${mid}" y="${top + plotH + 29}" text-anchor="middle" fill="#777" font-size="9">${esc(g.unit)}</text>`,
    );
  });
  c.series.forEach((s, i) => {
    const x = left + i * 120;
    const y = top + plotH + 55;
    parts.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${s.color}"/>`, `<text x="${x + 16}" y="${y}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function toSvg(report: BenchReport): string {
  const servers = report.servers.filter((s) => s.available).map((s) => s.name);
  return barChartSvg({
    title: `segd benchmark ${report.startedAt}${report.quick ? ' (quick)' : ''}`,
    notes: [
      'bar height: share of the best server in the scenario; label: MB/s for byte scenarios, req/s otherwise',
      'hatched: generator-bound (the load generator was the limit)',
    ],
    series: servers.map((name) => ({ name, color: COLORS[name] })),
    groups: report.scenarios.map((scenario) => {
      const bytes = BYTE_SCENARIOS.has(scenario);
      const rows = report.results.filter((r) => r.scenario === scenario && r.skipped === null && r.requests > 0);
      return {
        label: scenario,
        unit: bytes ? 'MB/s' : 'req/s',
        bars: rows.map((r) => ({
          series: r.server,
          value: bytes ? r.bytesPerSec / 1e6 : r.reqPerSec,
          title: `${r.server} ${scenario}: ${r.reqPerSec.toFixed(0)} req/s, ${(r.bytesPerSec / 1e6).toFixed(1)} MB/s, p99 ${r.p99Ms.toFixed(2)} ms`,
          hatched: r.generatorBound,
        })),
      };
    }),
  });
}
