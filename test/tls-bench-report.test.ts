// The TLS bench's report (bench/tls.ts): ratios are taken within a round, and their medians over
// the rounds are what it reports, and which servers each scenario measures. Pure: rows made here,
// no server started.
import { describe, expect, it } from 'vitest';
import { medianRatios, tlsMarkdown, type TlsReport, type TlsRow } from '../bench/tls.js';
import { NO_FIGURES } from '../bench/generators/types.js';
import { TLS_SCENARIO_DEFS, TLS_SCENARIOS } from '../bench/tls/scenarios.js';
import { serves, TLS_SERVERS } from '../bench/tls/servers.js';

const row = (server: TlsRow['server'], round: number, reqPerSec: number, failed: string | null = null): TlsRow => ({
  ...NO_FIGURES,
  round,
  scenario: 'h2-playlist',
  protocol: 'HTTP/2',
  server,
  generator: 'h2load -c16 -m32',
  failed,
  preflight: '',
  tls: 'TLSv1.3',
  non2xx: 0,
  cpuSecPerGB: 10,
  requests: reqPerSec * 8,
  seconds: 8,
  reqPerSec,
});

const report = (rows: TlsRow[], rounds: number): TlsReport => ({
  startedAt: 'now',
  finishedAt: 'later',
  command: 'npx tsx bench/tls.ts',
  quick: false,
  durationSec: 8,
  warmupSec: 2,
  pinned: true,
  workers: 1,
  rounds,
  machine: { cpus: 2, cpuModel: 'x', loadavgStart: [0, 0, 0], loadavgEnd: [0, 0, 0], node: 'v20', nodeOpenssl: '3' },
  tools: {},
  servers: [],
  rows,
  notes: [],
});

describe('medianRatios', () => {
  it('takes each ratio within its round, then the median and range over the rounds', () => {
    const rows = [
      row('segd', 1, 30), row('node-h2', 1, 40), row('node-h2-fields', 1, 32),
      row('node-h2-fields', 2, 30), row('node-h2', 2, 30), row('segd', 2, 27),
      row('segd', 3, 35), row('node-h2', 3, 50), row('node-h2-fields', 3, 40),
    ];
    const m = medianRatios(report(rows, 3));
    const bare = m.find((x) => x.anchor === 'node-h2')!;
    expect(bare).toMatchObject({ scenario: 'h2-playlist', rounds: 3, min: 0.7, max: 0.9 });
    expect(bare.median).toBeCloseTo(0.75);
    const fields = m.find((x) => x.anchor === 'node-h2-fields')!;
    expect(fields.median).toBeCloseTo(0.9);
    expect(fields.min).toBeCloseTo(0.875);
    expect(fields.max).toBeCloseTo(0.9375);
    expect(m.find((x) => x.anchor === 'nginx')).toBeUndefined();
  });

  it('an even count takes the middle two; a failed row (segd or anchor) leaves its round out', () => {
    const rows = [
      row('segd', 1, 30), row('node-h2', 1, 40),
      row('segd', 2, 20), row('node-h2', 2, 40),
      row('segd', 3, 40), row('node-h2', 3, 40, 'preflight failed'),
      row('segd', 4, 50, 'no request completed'), row('node-h2', 4, 40),
    ];
    const [bare] = medianRatios(report(rows, 4));
    expect(bare).toMatchObject({ anchor: 'node-h2', rounds: 2, min: 0.5, max: 0.75 });
    expect(bare!.median).toBeCloseTo(0.625);
  });
});

describe('tlsMarkdown', () => {
  it('with rounds: a round column, each row against its own round, and the medians', () => {
    const md = tlsMarkdown(report([row('segd', 1, 30_000), row('node-h2', 1, 40_000), row('node-h2', 2, 30_000), row('segd', 2, 25_500)], 2));
    expect(md).toContain('| h2-playlist | segd | 1 | h2load -c16 -m32 | 30.0k |');
    expect(md).toMatch(/\| h2-playlist \| segd \| 1 \|.*\| 0\.75 \|(\s+\|){2}$/m);
    expect(md).toMatch(/\| h2-playlist \| segd \| 2 \|.*\| 0\.85 \|(\s+\|){2}$/m);
    expect(md).toContain('- h2-playlist, segd ÷ node-h2: **0.80** over 2 rounds (0.75–0.85)');
    expect(md).toContain('2 rounds in alternating order');
  });

  it('one round: no round column and no medians', () => {
    const md = tlsMarkdown(report([row('segd', 1, 30_000), row('node-h2', 1, 40_000)], 1));
    expect(md).toContain('| h2-playlist | segd | h2load -c16 -m32 | 30.0k |');
    expect(md).not.toContain('Medians');
  });
});

describe('which server each scenario measures', () => {
  // The anchors answer without HTTP semantics: node:http2 only HTTP/2, node:https no ranges.
  const expected: Record<(typeof TLS_SERVERS)[number], string[]> = {
    segd: [...TLS_SCENARIOS],
    nginx: [...TLS_SCENARIOS],
    'node-h2': ['h2-segments', 'h2-playlist'],
    'node-h2-fields': ['h2-segments', 'h2-playlist'],
    'node-https': ['h1-segments', 'h1-playlist'],
  };
  it.each(TLS_SERVERS)('%s', (name) => {
    expect(TLS_SCENARIOS.filter((s) => serves(name, TLS_SCENARIO_DEFS[s]))).toEqual(expected[name]);
  });
});
