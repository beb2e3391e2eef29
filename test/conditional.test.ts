import { describe, expect, it } from 'vitest';
import { evaluatePreconditions, ifRangeAllows, type ConditionalHeaders, type Precondition } from '../src/http/conditional.js';

const etag = '"abc-10"';
const lastModifiedSec = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT') / 1000;
const v = { etag, lastModifiedSec };
const LM = 'Wed, 21 Oct 2015 07:28:00 GMT';
const BEFORE = 'Wed, 21 Oct 2015 07:27:59 GMT';
const AFTER = 'Wed, 21 Oct 2015 07:28:01 GMT';

const table: [string, ConditionalHeaders, Precondition][] = [
  ['no conditionals', {}, 'proceed'],
  ['If-Match equal', { ifMatch: etag }, 'proceed'],
  ['If-Match in a list', { ifMatch: '"x", "abc-10"' }, 'proceed'],
  ['If-Match *', { ifMatch: '*' }, 'proceed'],
  ['If-Match other', { ifMatch: '"x"' }, 'precondition-failed'],
  ['If-Match weak never matches', { ifMatch: 'W/"abc-10"' }, 'precondition-failed'],
  ['If-Match garbage', { ifMatch: 'abc-10' }, 'precondition-failed'],
  ['If-Unmodified-Since after', { ifUnmodifiedSince: AFTER }, 'proceed'],
  ['If-Unmodified-Since equal', { ifUnmodifiedSince: LM }, 'proceed'],
  ['If-Unmodified-Since before', { ifUnmodifiedSince: BEFORE }, 'precondition-failed'],
  ['If-Unmodified-Since invalid is ignored', { ifUnmodifiedSince: 'yesterday-ish' }, 'proceed'],
  ['If-Match wins over If-Unmodified-Since', { ifMatch: etag, ifUnmodifiedSince: BEFORE }, 'proceed'],
  ['If-None-Match equal', { ifNoneMatch: etag }, 'not-modified'],
  ['If-None-Match weak compare', { ifNoneMatch: 'W/"abc-10"' }, 'not-modified'],
  ['If-None-Match list', { ifNoneMatch: '"a", W/"abc-10", "b"' }, 'not-modified'],
  ['If-None-Match *', { ifNoneMatch: '*' }, 'not-modified'],
  ['If-None-Match other', { ifNoneMatch: '"other"' }, 'proceed'],
  ['If-Modified-Since equal', { ifModifiedSince: LM }, 'not-modified'],
  ['If-Modified-Since after', { ifModifiedSince: AFTER }, 'not-modified'],
  ['If-Modified-Since before', { ifModifiedSince: BEFORE }, 'proceed'],
  ['If-Modified-Since invalid', { ifModifiedSince: 'not a date' }, 'proceed'],
  ['If-None-Match takes precedence over If-Modified-Since', { ifNoneMatch: '"other"', ifModifiedSince: AFTER }, 'proceed'],
  ['If-None-Match match, stale If-Modified-Since ignored', { ifNoneMatch: etag, ifModifiedSince: BEFORE }, 'not-modified'],
  ['412 checked before 304', { ifMatch: '"x"', ifNoneMatch: etag }, 'precondition-failed'],
  ['If-Unmodified-Since fail before If-None-Match', { ifUnmodifiedSince: BEFORE, ifNoneMatch: etag }, 'precondition-failed'],
  ['If-Match * with surrounding whitespace', { ifMatch: ' * ' }, 'proceed'], // OWS is not part of a field value
];

describe('evaluatePreconditions (RFC 9110 §13.2.2 order)', () => {
  it.each(table)('%s', (_name, headers, expected) => {
    expect(evaluatePreconditions(headers, v)).toBe(expected);
  });
});

const ifRange: [string | undefined, boolean][] = [
  [undefined, true],
  [etag, true],
  ['"other"', false],
  ['W/"abc-10"', false], // weak tags never satisfy If-Range
  [LM, true], // exact date
  [AFTER, false],
  [BEFORE, false],
  ['garbage', false],
];

describe('ifRangeAllows', () => {
  it.each(ifRange)('If-Range %s → %s', (header, expected) => {
    expect(ifRangeAllows(header, v)).toBe(expected);
  });
});

// If-Range = entity-tag / HTTP-date: one validator, compared strongly or as an exact date.
const ifRangeMore: [string, boolean][] = [
  [` ${etag} `, true], // OWS around the field value
  [`${etag}, "other"`, false], // a list is not an entity-tag
  [`x${etag}`, false], // garbage that ends like a tag
  [`W/ ${LM}`, false], // neither a tag nor a date
];

describe('ifRangeAllows, malformed values never match', () => {
  it.each(ifRangeMore)('If-Range %s → %s', (header, expected) => {
    expect(ifRangeAllows(header, v)).toBe(expected);
  });

  it('a date cannot match a representation without a modification time', () => {
    expect(ifRangeAllows(LM, { etag, lastModifiedSec: undefined })).toBe(false);
    expect(ifRangeAllows('garbage', { etag, lastModifiedSec: undefined })).toBe(false);
    expect(ifRangeAllows(etag, { etag: undefined, lastModifiedSec })).toBe(false);
  });
});

describe('a weak current entity tag (§8.8.3.2)', () => {
  const weak = { etag: 'W/"abc-10"', lastModifiedSec };
  it.each([
    ['If-Match never matches a weak tag', { ifMatch: '"abc-10"' }, 'precondition-failed'],
    ['If-Match with the same weak tag still fails', { ifMatch: 'W/"abc-10"' }, 'precondition-failed'],
    ['If-None-Match compares weakly: strong form', { ifNoneMatch: '"abc-10"' }, 'not-modified'],
    ['If-None-Match compares weakly: in a list', { ifNoneMatch: '"x", "abc-10"' }, 'not-modified'],
    ['If-None-Match other', { ifNoneMatch: '"other"' }, 'proceed'],
  ] as [string, ConditionalHeaders, Precondition][])('%s', (_name, headers, expected) => {
    expect(evaluatePreconditions(headers, weak)).toBe(expected);
  });
  it('If-Range needs a strong match', () => {
    expect(ifRangeAllows('"abc-10"', weak)).toBe(false);
    expect(ifRangeAllows('W/"abc-10"', weak)).toBe(false);
  });
});

describe('without validators', () => {
  const none = { etag: undefined, lastModifiedSec: undefined };
  it.each([
    ['If-Match * still proceeds', { ifMatch: '*' }, 'proceed'],
    ['If-Match a tag fails', { ifMatch: '"abc-10"' }, 'precondition-failed'],
    ['If-Unmodified-Since cannot be evaluated: ignored', { ifUnmodifiedSince: BEFORE }, 'proceed'],
    ['If-None-Match * matches any current representation', { ifNoneMatch: '*' }, 'not-modified'],
    ['If-None-Match a tag does not match', { ifNoneMatch: '"abc-10"' }, 'proceed'],
    ['If-Modified-Since cannot be evaluated: ignored', { ifModifiedSince: AFTER }, 'proceed'],
  ] as [string, ConditionalHeaders, Precondition][])('%s', (_name, headers, expected) => {
    expect(evaluatePreconditions(headers, none)).toBe(expected);
  });
});
