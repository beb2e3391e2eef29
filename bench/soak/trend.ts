// The soak's verdict on one metric: does it still grow once the warm-up is over?
//
// Over the samples taken after the warm-up (at least MIN_SAMPLES of them), a metric is
// "rising" when both
//   - the least-squares line through them rises by more than the metric's tolerance from the
//     first of those samples to the last, and
//   - the mean of the last third exceeds the mean of the middle third by more than a third of
//     the tolerance (what steady growth at that rate would add in a third of the window),
// where the tolerance is the larger of a share of the middle third's mean and a floor
// (METRICS in sample.ts). The second condition lets growth that has levelled off, or a single
// step early in the window, pass; steady growth fails both ways.
import type { MetricDef, Sample } from './sample.js';

export const MIN_SAMPLES = 6;

export interface Trend {
  def: MetricDef;
  /** Over every sample, warm-up included. */
  start: number;
  end: number;
  peak: number;
  /** Samples after the warm-up. */
  n: number;
  /** Growth of the fitted line across the window after the warm-up. */
  rise: number;
  /** Mean of the last third minus mean of the middle third. */
  step: number;
  tolerance: number;
  verdict: 'flat' | 'rising' | 'not judged';
  /** The fitted line's ends, [t, value] at the first and last sample after the warm-up. */
  line: [[number, number], [number, number]] | null;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The least-squares line through (x, y): y = a + b x. */
function fit(x: readonly number[], y: readonly number[]): { a: number; b: number } {
  const mx = mean(x);
  const my = mean(y);
  let num = 0;
  let den = 0;
  x.forEach((xi, i) => {
    num += (xi - mx) * (y[i]! - my);
    den += (xi - mx) ** 2;
  });
  const b = den > 0 ? num / den : 0;
  return { a: my - b * mx, b };
}

export function judge(samples: readonly Sample[], def: MetricDef, warmupSec: number): Trend {
  const values = samples.map((s) => s[def.key]).filter(Number.isFinite);
  const post = samples.filter((s) => s.t >= warmupSec && Number.isFinite(s[def.key]));
  const trend: Trend = {
    def,
    start: values[0] ?? NaN,
    end: values[values.length - 1] ?? NaN,
    peak: values.length > 0 ? Math.max(...values) : NaN,
    n: post.length,
    rise: NaN,
    step: NaN,
    tolerance: NaN,
    verdict: 'not judged',
    line: null,
  };
  if (def.tolerance === undefined || post.length < MIN_SAMPLES) return trend;
  const t = post.map((s) => s.t);
  const y = post.map((s) => s[def.key]);
  const third = Math.floor(y.length / 3);
  const middle = mean(y.slice(third, 2 * third));
  const { a, b } = fit(t, y);
  const [first, last] = [t[0]!, t[t.length - 1]!];
  trend.line = [[first, a + b * first], [last, a + b * last]];
  trend.rise = b * (last - first);
  trend.step = mean(y.slice(y.length - third)) - middle;
  trend.tolerance = Math.max(def.tolerance.share * Math.abs(middle), def.tolerance.floor);
  trend.verdict = trend.rise > trend.tolerance && trend.step > trend.tolerance / 3 ? 'rising' : 'flat';
  return trend;
}
