import { describe, expect, it } from 'vitest';
import { Lru, S3Fifo, type EvictionPolicy } from '../src/store/disk/eviction.js';
import { prng } from '../bench/prng.js';

type Op =
  | readonly ['insert', string, number] // evict(size), then insert: how a fill uses the policy
  | readonly ['add', string, number] // insert alone: the room was made by an earlier evict()
  | readonly ['touch', string]
  | readonly ['remove', string]
  | readonly ['evict', number]
  | readonly ['restore', readonly (readonly [string, number])[]];

const ins = (size: number, ...keys: string[]): Op[] => keys.map((k) => ['insert', k, size] as const);
const touch = (...keys: string[]): Op[] => keys.map((k) => ['touch', k] as const);
/** `n` keys from k`from` up: ks(3, 2) is k3, k4. */
const ks = (from: number, n: number, prefix = 'k'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);
const letters = (s: string): string[] => [...s];

function run(p: EvictionPolicy<string>, ops: readonly Op[]): string[] {
  const victims: string[] = [];
  for (const op of ops) {
    switch (op[0]) {
      case 'insert':
        victims.push(...p.evict(op[2]));
        p.insert(op[1], op[2]);
        break;
      case 'add':
        p.insert(op[1], op[2]);
        break;
      case 'touch':
        p.touch(op[1]);
        break;
      case 'remove':
        p.remove(op[1]);
        break;
      case 'evict':
        victims.push(...p.evict(op[1]));
        break;
      case 'restore':
        victims.push(...p.restore(op[1]));
        break;
    }
  }
  return victims;
}

// The victims of one sequence under each policy, computed by hand. Mostly capacity 100 and
// 10-byte objects, so S3-FIFO's queues are S = 10, M = 90 and G = 90 bytes of keys.
// [name, capacity, S3-FIFO options, ops, S3-FIFO victims, LRU victims]
const table: [string, number, ConstructorParameters<typeof S3Fifo>[1], Op[], string[], string[]][] = [
  ['nothing goes while it fits', 100, {}, ins(10, ...letters('abcdefghij')), [], []],
  ['a cache of one-hit keys: oldest first in both', 100, {}, ins(10, ...letters('abcdefghijk')), ['a'], ['a']],
  [
    // §4.1: S promotes what was accessed more than once; one hit is not enough.
    'one hit in S does not save a key',
    100,
    {},
    [...ins(10, ...letters('abcdefghij')), ...touch('a'), ...ins(10, 'k')],
    ['a'],
    ['b'],
  ],
  [
    'two hits in S promote to M, which outlives the churn of S',
    100,
    {},
    [...ins(10, ...letters('abcdefghij')), ...touch('a', 'a', 'b'), ...ins(10, ...letters('klmnopqrst'))],
    letters('bcdefghijk'),
    letters('cdefghijab'),
  ],
  [
    // §4.1: "its access bits are cleared during the move". Kept, a's 3 would outlast b's 2.
    'promotion to M clears the count: hits in S buy no second chance in M',
    100,
    {},
    [...ins(10, ...letters('abcdefghij')), ...touch('a', 'a', 'a', 'b', 'b'), ...ins(10, 'k'), ['evict', 100]],
    letters('cdefghijkab'),
    letters('cdefghijabk'),
  ],
  [
    'a one-hit key evicted from S and fetched again goes to M (ghost)',
    100,
    {},
    [...ins(10, ...letters('abcdefghijk')), ...ins(10, 'a'), ...ins(10, ...letters('lmnopqrstu'))],
    letters('abcdefghijkl'),
    letters('abcdefghijka'),
  ],
  [
    'a removed key is forgotten by G too: back, it starts in S',
    100,
    {},
    [...ins(10, ...letters('abcdefghijk')), ['remove', 'a'], ...ins(10, 'a'), ...ins(10, ...letters('lmnopqrstu'))],
    letters('abcdefghijka'),
    letters('abcdefghijka'),
  ],
  [
    // k0..k9 pushed into G (100 bytes) keeps k1..k9 (90): k0 comes back into S.
    'G remembers M’s share of the bytes: the oldest ghost is forgotten',
    100,
    {},
    [...ins(10, ...ks(0, 20)), ...ins(10, 'k0'), ...ins(10, ...ks(20, 10))],
    [...ks(0, 10), 'k10', ...ks(11, 9), 'k0'],
    [...ks(0, 10), 'k10', ...ks(11, 9), 'k0'],
  ],
  [
    // The same with G at 100 bytes: k0 is still there, goes to M, and S's k20 goes instead.
    'a larger ghostShare remembers further back',
    100,
    { ghostShare: 1 },
    [...ins(10, ...ks(0, 20)), ...ins(10, 'k0'), ...ins(10, ...ks(20, 10))],
    [...ks(0, 10), 'k10', ...ks(11, 9), 'k20'],
    [...ks(0, 10), 'k10', ...ks(11, 9), 'k0'],
  ],
  [
    // a comes back from G into M, which is then 95 of its 90: M's m1 goes, not S's c.
    'M over its share evicts from M even while S has keys',
    100,
    {},
    [['restore', ks(1, 9, 'm').map((k) => [k, 10] as const)], ...ins(5, 'a', 'b', 'c', 'a', 'd')],
    ['a', 'b', 'm1'],
    ['m1'],
  ],
  [
    // M over its 90: a (2 hits) and b (1) go round with one count less, c goes; then for 20
    // bytes S's k goes and, S empty, M's d.
    'M reinserts hit keys with one count less (CLOCK)',
    100,
    {},
    [['restore', letters('abcdefghij').map((k) => [k, 10] as const)], ...touch('a', 'a', 'b'), ...ins(10, 'k'), ...ins(20, 'x')],
    ['c', 'k', 'd'],
    ['c', 'd', 'e'],
  ],
  [
    // a hit 5 times and b 3 times both count 3: a, older, runs out first. Uncapped, b would.
    'the counter saturates at 3',
    20,
    {},
    [['restore', [['a', 10], ['b', 10]]], ...touch('a', 'a', 'a', 'a', 'a', 'b', 'b', 'b'), ['evict', 20]],
    ['a', 'b'],
    ['a', 'b'],
  ],
  [
    'a scan passes through S and leaves M alone',
    100,
    {},
    [...ins(10, ...letters('abcde')), ...touch(...letters('abcdeabcde')), ...ins(10, ...ks(1, 15))],
    ks(1, 10),
    [...letters('abcde'), ...ks(1, 5)],
  ],
  [
    'restore over a lowered quota: the oldest go first',
    30,
    {},
    [['restore', letters('abcde').map((k) => [k, 10] as const)]],
    ['a', 'b'],
    ['a', 'b'],
  ],
  ['restored keys start in M: a new key in S goes before them', 30, {}, [['restore', [['a', 10], ['b', 10]]], ...ins(10, 'c', 'd')], ['c'], ['a']],
  ['more than the capacity incoming: everything goes', 30, {}, [...ins(10, 'a', 'b', 'c'), ['evict', 31]], ['a', 'b', 'c'], ['a', 'b', 'c']],
  [
    'a rewritten object keeps its place, with its new size',
    100,
    {},
    [...ins(10, ...letters('abcde')), ...ins(30, 'a'), ...ins(10, 'f', 'g', 'h', 'i')],
    ['a'],
    ['a'],
  ],
  ['a removed key frees its bytes', 100, {}, [...ins(10, ...letters('abcdefghij')), ['remove', 'c'], ...ins(10, 'k', 'l')], ['a'], ['a']],
  [
    // G holds 5 bytes: a, 10, is never remembered, and comes back into S.
    'a key larger than G’s bound is not remembered',
    100,
    { ghostShare: 0.05 },
    [...ins(10, ...letters('abcdefghij')), ...ins(10, 'a'), ...ins(10, ...ks(0, 10))],
    [...letters('abcdefghij'), 'a'],
    [...letters('abcdefghij'), 'a'],
  ],
  [
    // G holds 10 bytes: a, 10, is remembered and comes back into M, so S's k0 goes before it.
    'a key exactly G’s bound is remembered',
    100,
    { ghostShare: 0.1 },
    [...ins(10, ...letters('abcdefghij')), ...ins(10, 'a'), ...ins(10, ...ks(0, 10))],
    [...letters('abcdefghij'), 'k0'],
    [...letters('abcdefghij'), 'a'],
  ],
  [
    // G is k1..k9 when k5 is removed from it; five victims later the trim that makes room skips
    // k5's stale slot and forgets k6, and k5's bytes are not taken off twice: k6's fill forgets
    // k7 too. Both come back into S.
    'a key taken out of G leaves a slot that is skipped, not counted again',
    100,
    {},
    [...ins(10, ...ks(0, 20)), ['remove', 'k5'], ...ins(10, ...ks(20, 6)), ...ins(10, 'k6', 'k7'), ...ins(10, ...ks(26, 10))],
    [...ks(0, 26), 'k6', 'k7'],
    [...ks(0, 26), 'k6', 'k7'],
  ],
  [
    // c, b and a unhit in M: a goes at once. Then b counts 3 (capped) and c 3: three rounds
    // each, b first. Had a's turn left b and c a count lower, c would run out first.
    'an unhit key in M goes on its turn, and the keys it passed keep their counts',
    30,
    {},
    [['restore', letters('abc').map((k) => [k, 10] as const)], ['evict', 10], ...touch('b', 'b', 'b', 'b', 'c', 'c', 'c'), ['evict', 30]],
    ['a', 'b', 'c'],
    ['a', 'b', 'c'],
  ],
  [
    // evict(20) pushes k0 and k1 into G (110 bytes, over its 90); inserting k19 trims it back to
    // k2..k19 before k1, inserted on that room, is looked up: k1 starts in S.
    'G is trimmed by every insert, not only by the next evict()',
    100,
    {},
    [...ins(10, ...ks(0, 19)), ['evict', 20], ['add', 'k19', 10], ['add', 'k1', 10], ...ins(10, ...ks(20, 10))],
    [...ks(0, 20), 'k1'],
    [...ks(0, 20), 'k1'],
  ],
  [
    // A lone evict() leaves G at 100 bytes; the next fill's evict() trims it first, forgetting
    // k0 before it comes back: k0 starts in S.
    'G is trimmed before evicting, after an evict() no insert followed',
    100,
    {},
    [...ins(10, ...ks(0, 19)), ['evict', 10], ...ins(10, 'k0'), ...ins(10, ...ks(20, 10))],
    [...ks(0, 19), 'k0'],
    [...ks(0, 19), 'k0'],
  ],
];

describe('eviction victims, by hand', () => {
  it.each(table)('%s', (_name, capacity, opts, ops, s3, lru) => {
    expect(run(new S3Fifo(capacity, opts), ops)).toEqual(s3);
    expect(run(new Lru(capacity), ops)).toEqual(lru);
  });
});

const policies: [string, (capacity: number) => EvictionPolicy<string>][] = [
  ['S3Fifo', (c) => new S3Fifo(c)],
  ['Lru', (c) => new Lru(c)],
];


describe.each(policies)('%s', (_name, make) => {
  it('never exceeds its capacity, and accounts for every byte (random workload)', () => {
    const capacity = 1000;
    const p = make(capacity);
    const rand = prng(42);
    const model = new Map<string, number>();
    let total = 0;
    let evicted = 0;
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(rand() * 300)}`;
      const r = rand();
      if (r < 0.6) {
        // Mostly segments of 1–120 bytes; now and then the whole capacity, or more.
        const size = r < 0.005 ? capacity + 1 : r < 0.01 ? capacity : 1 + Math.floor(rand() * 120);
        const victims = p.evict(size);
        for (const v of victims) {
          expect(model.has(v)).toBe(true);
          expect(p.has(v)).toBe(false);
          total -= model.get(v)!;
          model.delete(v);
        }
        evicted += victims.length;
        if (size > capacity) {
          expect(p.count).toBe(0);
          continue;
        }
        p.insert(key, size);
        total += size - (model.get(key) ?? 0);
        model.set(key, size);
        expect(p.has(key)).toBe(true);
      } else if (r < 0.9) {
        p.touch(key);
      } else {
        p.remove(key);
        total -= model.get(key) ?? 0;
        model.delete(key);
        expect(p.has(key)).toBe(false);
      }
      expect(p.used).toBe(total);
      expect(p.used).toBeLessThanOrEqual(capacity);
      expect(p.count).toBe(model.size);
    }
    expect(evicted).toBeGreaterThan(1000); // the workload did press on the quota
  });

  it('refuses to be overdrawn', () => {
    const p = make(100);
    p.insert('a', 60);
    expect(() => p.insert('b', 41)).toThrow(new RangeError('no room for 41 bytes: 60 of 100 are used (call evict(41) first)'));
    expect(() => p.insert('a', 101)).toThrow(new RangeError('no room for 101 bytes: 0 of 100 are used (call evict(101) first)'));
    expect(() => p.insert('c', 101)).toThrow(RangeError);
    p.insert('a', 100); // a rewrite needs room for the difference only
    expect([p.used, p.count]).toEqual([100, 1]);
    expect(p.evict(101)).toEqual(['a']);
    expect([p.used, p.count]).toEqual([0, 0]);
  });

  it('takes whole byte counts only', () => {
    const p = make(100);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => p.insert('a', bad)).toThrow(RangeError);
      expect(() => p.evict(bad)).toThrow(RangeError);
    }
    expect(() => p.insert('a', -1)).toThrow(new RangeError('size must be a whole number of bytes ≥ 0, not -1'));
    expect(() => p.evict(1.5)).toThrow(new RangeError('incoming must be a whole number of bytes ≥ 0, not 1.5'));
    expect(() => make(-1)).toThrow(new RangeError('capacity must be a whole number of bytes ≥ 0, not -1'));
    expect(() => make(100).restore([['a', 10], ['b', Number.NaN]])).toThrow(new RangeError('size must be a whole number of bytes ≥ 0, not NaN'));
    expect(p.count).toBe(0);
  });

  it('tracks sizes through rewrites and removals', () => {
    const p = make(100);
    p.insert('a', 10);
    p.insert('b', 20);
    p.insert('a', 35);
    expect([p.used, p.count]).toEqual([55, 2]);
    p.remove('b');
    p.remove('nope');
    expect([p.used, p.count, p.has('a'), p.has('b')]).toEqual([35, 1, true, false]);
    expect(p.evict(65)).toEqual([]);
    expect(p.evict(66)).toEqual(['a']);
  });

  it('restores only into an empty policy', () => {
    const p = make(100);
    p.insert('a', 10);
    expect(() => p.restore([['b', 10]])).toThrow(/empty/);
    expect(p.has('b')).toBe(false);
  });
});

describe('S3Fifo options', () => {
  it('takes shares of the capacity: S’s in [0, 1], G’s ≥ 0', () => {
    for (const bad of [-0.1, 1.1, Number.NaN]) {
      expect(() => new S3Fifo(100, { smallShare: bad })).toThrow(new RangeError(`smallShare must be in [0, 1], not ${bad}`));
    }
    for (const bad of [-0.1, Number.NaN]) {
      expect(() => new S3Fifo(100, { ghostShare: bad })).toThrow(new RangeError(`ghostShare must be ≥ 0, not ${bad}`));
    }
    for (const ok of [{ smallShare: 0 }, { smallShare: 1 }, { ghostShare: 0 }, { smallShare: 1, ghostShare: 0 }]) {
      const p = new S3Fifo<string>(100, ok);
      expect(run(p, ins(10, ...ks(0, 11)))).toEqual(['k0']);
    }
  });
});

describe('S3Fifo ghost', () => {
  it('stays bounded and exact across the compaction of its queue', () => {
    // One-hit keys of 1–19 bytes through 1000 bytes: every victim comes from S and enters G,
    // which keeps the newest victims adding up to at most 900 bytes.
    const p = new S3Fifo<string>(1000);
    const size = (i: number) => 1 + (i % 19);
    const victims: number[] = [];
    const fill = (i: number) => {
      victims.push(...p.evict(size(i)).map((k) => Number(k.slice(1))));
      p.insert(`k${i}`, size(i));
    };
    for (let i = 0; i < 5000; i++) fill(i); // about 4900 pass through G: it compacts
    let remembered = 0;
    let oldest = victims.length;
    while (remembered + size(victims[oldest - 1]!) <= 900) remembered += size(victims[--oldest]!);
    const inside = victims[oldest]!;
    const outside = victims[oldest - 1]!;
    fill(inside); // remembered: into M
    fill(outside); // forgotten: into S
    for (let i = 5000; i < 5500; i++) fill(i); // S turns over; M, under its share, does not
    expect([p.has(`k${inside}`), p.has(`k${outside}`)]).toEqual([true, false]);
  });

  it('counts a key taken out after its queue was compacted by that key’s size', () => {
    // 10-byte one-hit keys through 1000 bytes: G keeps the last 90 victims, and 1900 pass
    // through it, past a compaction. One comes back (out of G, into M); G must still forget
    // what falls out of its 900 bytes afterwards.
    const p = new S3Fifo<string>(1000);
    const victims: string[] = [];
    const fill = (k: string) => {
      victims.push(...p.evict(10));
      p.insert(k, 10);
    };
    for (let i = 0; i < 2000; i++) fill(`k${i}`);
    const back = victims.at(-1)!;
    const gone = victims.at(-2)!;
    fill(back); // remembered: into M
    for (let i = 2000; i < 2200; i++) fill(`k${i}`);
    fill(gone); // 200 victims later, forgotten: into S
    for (let i = 2200; i < 2400; i++) fill(`k${i}`); // S turns over
    expect([p.has(back), p.has(gone)]).toEqual([true, false]);
  });
});
