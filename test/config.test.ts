/**
 * serve's configuration: one schema for flags and the config file, flags over the file, one
 * clear error naming the flag or the key, and `segd config --print` that reads back the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printable, resolveServeConfig, SERVE_CONFIG, SERVE_DEFAULTS } from '../src/config/serve-config.js';
import { SegdError } from '../src/config/error.js';
import { cli, REPO } from './helpers/cli.js';
import { get } from './helpers/http.js';
import { testPki } from './helpers/pki.js';
import { tempTree, random, type TempTree } from './helpers/content.js';

const file = (values: Record<string, unknown>): { path: string; values: Record<string, unknown> } => ({ path: 'segd.json', values });

describe('resolveServeConfig', () => {
  it.each([
    ['defaults alone', undefined, {}, { host: '127.0.0.1', port: 8080, cacheSize: 512 * 1024 ** 2, staleIfError: 86_400_000, corsOrigin: ['*'], player: true, followSymlinks: false, log: false, index: false, verify: true }],
    ['the file over the defaults', file({ port: 9000, cacheSize: '2GiB', player: false }), {}, { port: 9000, cacheSize: 2 * 1024 ** 3, player: false }],
    ['flags over the file', file({ port: 9000, host: '0.0.0.0' }), { port: '9100' }, { port: 9100, host: '0.0.0.0' }],
    ['a bare number is what it is on the command line: bytes, seconds', file({ cacheDiskSize: 1024, staleIfError: 60, negativeTtl: '500ms' }), {}, { cacheDiskSize: 1024, staleIfError: 60_000, negativeTtl: 500 }],
    ['lists from a comma text or an array', file({ corsOrigin: ['https://a.example', 'https://b.example'] }), { stripQuery: 'token, sig' }, { corsOrigin: ['https://a.example', 'https://b.example'], stripQuery: ['token', 'sig'] }],
    ['a comma text without its empty items', undefined, { stripQuery: 'token, ,sig,' }, { stripQuery: ['token', 'sig'] }],
    ['a whole number from a flag, spaces around it', undefined, { port: ' 9100', threads: '2 ' }, { port: 9100, threads: 2 }],
    ['--hsts alone, or with seconds', undefined, { hsts: true, httpPort: '8081' }, { hsts: true, httpPort: 8081 }],
  ] as const)('%s', (_name, f, flags, expected) => {
    expect(resolveServeConfig(f as Parameters<typeof resolveServeConfig>[0], { ...flags })).toMatchObject(expected);
  });

  it.each([
    ['an unknown key in the file', file({ cacheSise: '1GiB' }), {}, /^segd\.json: unknown key cacheSise$/],
    ['a bad value in the file, by its key', file({ port: 70_000 }), {}, /^segd\.json: port: expected a whole number from 0 to 65535$/],
    ['a bad value of a flag, by its flag', undefined, { cacheDiskSize: 'lots' }, /^--cache-disk-size: not a size: 'lots'/],
    ['a value of the wrong type', file({ player: 'yes' }), {}, /^segd\.json: player: /],
    ['two unknown keys', file({ a: 1, b: 2 }), {}, /^segd\.json: unknown keys a, b$/],
    ['a whole number of the wrong type', file({ port: true }), {}, /^segd\.json: port: expected a whole number from 0 to 65535$/],
    ['a size of the wrong type', file({ cacheSize: true }), {}, /^segd\.json: cacheSize: expected a size such as 512MiB, or a number of bytes$/],
    ['a duration of the wrong type', file({ staleIfError: false }), {}, /^segd\.json: staleIfError: expected a duration such as 500ms or 10s, or a number of seconds$/],
    ['a load factor out of range', file({ liveMaxAge: 11 }), { liveMaxAge: '-1' }, /^--live-max-age: expected a number from 0 to 10$/],
    ['a worker count that is neither', undefined, { workers: 'many' }, /^--workers: expected 'auto' or a whole number from 1 to 1024$/],
    ['every problem at once', file({ port: -1, verify: 1 }), { threads: '0' }, /^segd\.json: port: expected a whole number from 0 to 65535; --threads: expected a whole number from 1 to 1024; segd\.json: verify: .*boolean/],
  ] as const)('refuses %s with one line that names it', (_name, f, flags, message) => {
    let error: unknown;
    try {
      resolveServeConfig(f as Parameters<typeof resolveServeConfig>[0], { ...flags });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SegdError);
    expect((error as SegdError).code).toBe('ESEGDCONFIG');
    expect((error as Error).message).toMatch(message);
  });

  it("the README's example configurations are valid, every key of the schema among them", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const examples = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    expect(examples.length).toBeGreaterThanOrEqual(2);
    const keys = new Set<string>();
    for (const e of examples) {
      expect(() => resolveServeConfig(file(e), {})).not.toThrow();
      for (const k of Object.keys(e)) keys.add(k);
    }
    expect([...keys].sort()).toEqual(Object.keys(SERVE_CONFIG.shape).sort());
  });

  it('prints what reads back as the same configuration', () => {
    const config = resolveServeConfig(file({ originTimeout: '2.5s', cacheSize: '1GiB' }), {});
    expect(resolveServeConfig(file(JSON.parse(JSON.stringify(printable(config))) as Record<string, unknown>), {})).toEqual(config);
    expect(resolveServeConfig(file(JSON.parse(JSON.stringify(printable(SERVE_DEFAULTS))) as Record<string, unknown>), {})).toEqual(SERVE_DEFAULTS);
  });
});

describe('segd serve --config', () => {
  let tree: TempTree;
  const seg = random(10_000);
  beforeAll(() => {
    tree = tempTree();
    tree.write('www/vod/seg.m4s', seg);
  });
  afterAll(() => tree?.remove());

  it('serves with the file, flags over it (HTTPS from the file, the port from a flag)', async () => {
    const pki = testPki();
    const conf = join(tree.dir, 'segd.json');
    writeFileSync(conf, JSON.stringify({ dir: join(tree.dir, 'www'), port: 1, player: false, tlsCert: pki.files.cert, tlsKey: pki.files.key, hsts: 300 }));
    const run = cli(['serve', '--config', conf, '--port', '0'], { until: /serving/ });
    try {
      const url = /"url":"(https:[^"]+)"/.exec(await run.ready)?.[1];
      expect(url, run.output()).toBeDefined();
      const r = await get(url!, '/vod/seg.m4s');
      expect(r.body.equals(seg)).toBe(true);
      expect(r.headers['strict-transport-security']).toBe('max-age=300');
      expect((await get(url!, '/player/')).status).toBe(404);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });

  it('exits 2 with the key named, before listening, on a bad file; config --print shows the effective settings', async () => {
    const bad = join(tree.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ port: 8080, cacheSise: '1GiB' }));
    const refused = cli(['serve', '--config', bad]);
    expect(await refused.exited).toBe(2);
    expect(refused.stderr()).toContain(`segd: ${bad}: unknown key cacheSise`);

    const notJson = join(tree.dir, 'not.json');
    writeFileSync(notJson, '{ port: 1 }');
    const broken = cli(['config', '--config', notJson, '--print']);
    expect(await broken.exited).toBe(2);
    expect(broken.stderr()).toContain(`${notJson} is not JSON`);

    const good = join(tree.dir, 'good.json');
    writeFileSync(good, JSON.stringify({ port: 9000, staleIfError: '1h' }));
    const print = cli(['config', '--config', good, '--print', '--port', '9001', '--no-player']);
    expect(await print.exited).toBe(0);
    expect(JSON.parse(print.stdout())).toMatchObject({ port: 9001, staleIfError: '3600000ms', player: false, host: '127.0.0.1' });
  });
});
