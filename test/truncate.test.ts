/**
 * A file truncated in place under one of segd's mappings (outside the content contract, which
 * asks for replacement by rename; README "The content contract"). What must hold: the process
 * survives the SIGBUS that reading such pages raises, the mapping is poisoned, the cached object
 * is dropped and the file loaded anew (new bytes, or 404), and no response ever carries, whole,
 * bytes other than those its ETag names.
 *
 * Only a read in user space raises the SIGBUS: a plain HTTP/1 socket write is the kernel's copy,
 * which gets EFAULT instead (that case is in serve.test.ts). segd reads a cached mapping in user
 * space when its handler is mounted on TLS (or HTTP/2), which encrypts (or frames) the body in
 * user space; and the memory tier's own check is exercised here on the store directly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, sigbusFaults } from '../src/native/index.js';
import { crc32cTable } from '../src/native/fallback.js';
import { LoadPool } from '../src/pool/load-pool.js';
import { FileStore, type Entry, type Outcome } from '../src/store/folder.js';
import type { ObjectFacts } from '../src/store/objects.js';
import { ReadEntry } from '../src/store/read-tier.js';
import { random, tempTree, type TempTree } from './helpers/content.js';
import { skipping } from './helpers/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const onFallback = native.kind === 'fallback' ? 'the active byte path is the TypeScript fallback, which copies files: nothing is mapped, nothing can fault' : undefined;
/** Whole seconds, so utimes can put a file's mtime back exactly. */
const MTIME = 1_700_000_000;

let tree: TempTree;
beforeAll(() => {
  tree = tempTree('segd-truncate-');
});
afterAll(() => tree?.remove());

describe.skipIf(skipping('truncation under a live mapping', onFallback))('a file truncated under its mapping', () => {
  it('served over TLS: the SIGBUS is repaired, the request cut, the object dropped and reloaded; nothing whole is wrong', () => {
    const dir = path.join(tree.dir, 'tls');
    fs.mkdirSync(dir);
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'serve-truncate.ts'), dir], { encoding: 'utf8', timeout: 60_000 });
    // A SIGBUS the addon did not repair kills the server: that is this assertion failing.
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.kind).toBe('addon');
    // a: served whole; truncated to nothing, then the next request reads the vanished pages (one
    // fault, repaired) and is cut before any response head; rewritten in place with new bytes of
    // the same size and the old mtime (stat cannot tell), it is served anew: only the poison
    // flag said the cached object was gone.
    expect(out.a).toEqual([
      { status: 200, whole: true, body: 'oldA', etagIsBody: true },
      { status: 0, whole: false, body: '0 other bytes', etagIsBody: null },
      { status: 200, whole: true, body: 'newA', etagIsBody: true },
    ]);
    expect(out.faultsAfterA).toBe(1);
    expect(out.statUnchanged).toBe(true);
    // b: the same, then deleted: 404.
    expect(out.b).toEqual([
      { status: 200, whole: true, body: 'oldB', etagIsBody: true },
      { status: 0, whole: false, body: '0 other bytes', etagIsBody: null },
      { status: 404, whole: true, body: '14 other bytes', etagIsBody: null },
    ]);
    // c: truncated mid-answer (the client paused after the head): the answer is cut after bytes
    // of the old file only (each 128 KiB slice is checked before OpenSSL reads it); the next
    // request finds the object poisoned, drops it, and serves the file as it is now, empty.
    expect(out.c).toEqual([
      { status: 200, whole: true, body: 'oldC', etagIsBody: true },
      { status: 200, whole: false, body: expect.stringMatching(/^\d+ other bytes$/), etagIsBody: false },
      { status: 200, whole: true, body: '0 other bytes', etagIsBody: true },
    ]);
    expect(out.cPrefix).toBe(true);
    // Every fault counted by the addon and in the server's metrics; each dropped object logged.
    expect(out.faults).toBe(3);
    expect(out.metric).toBe(3);
    expect(out.logs).toEqual([
      { msg: expect.stringMatching(/^file truncated while mapped/), file: 'a.m4s' },
      { msg: expect.stringMatching(/^file truncated while mapped/), file: 'b.m4s' },
      { msg: expect.stringMatching(/^file truncated while mapped/), file: 'c.m4s' },
    ]);
  });

  describe('the store', () => {
    let pool: LoadPool;
    beforeAll(() => {
      pool = new LoadPool(1);
    });
    afterAll(() => pool?.close());

    it('never hands out a poisoned object, even when the file\'s stat cannot tell it changed', async () => {
      const dir = path.join(tree.dir, 'store');
      fs.mkdirSync(dir);
      const file = fs.realpathSync(dir) + '/seg.m4s';
      const old = random(1024 * 1024);
      const next = random(old.length);
      fs.writeFileSync(file, old);
      fs.utimesSync(file, MTIME, MTIME);
      const truncated: string[] = [];
      const store = new FileStore<ObjectFacts>({ maxBytes: 64 * 1024 * 1024, validityMs: 600_000, pool, describe: (f) => f, verify: true, events: { truncated: (f) => truncated.push(f) } });
      const mount = { realRoot: fs.realpathSync(dir), followSymlinks: false };
      const found = (o: Outcome<ObjectFacts>): Entry<ObjectFacts> => {
        expect(o.kind).toBe('found');
        const e = (o as Extract<Outcome<ObjectFacts>, { kind: 'found' }>).entry;
        expect(e).not.toBeInstanceOf(ReadEntry); // loaded anew, not read by the facts of the truncated file
        return e as Entry<ObjectFacts>;
      };

      const first = found(await store.fetch(file, mount));
      expect(first.file.crc32c).toBe(crc32cTable(old));
      expect(store.hot(file)).toBe(first);
      const ino = fs.statSync(file).ino;

      fs.truncateSync(file, 0);
      // What a user-space reader of the mapping (a TLS sender) meets: a fault, repaired.
      const faults = sigbusFaults();
      const view = first.file.view(0, old.length);
      expect(view[0]).toBe(0); // a zero page where the file's first page was
      expect(sigbusFaults()).toBe(faults + 1);
      expect(first.mapping!.poisoned).toBe(true);

      fs.writeFileSync(file, next);
      fs.utimesSync(file, MTIME, MTIME);
      expect(fs.statSync(file)).toMatchObject({ size: old.length, mtimeMs: MTIME * 1000, ino });

      expect(store.hot(file)).toBeUndefined(); // the memory tier dropped it
      expect(truncated).toEqual([file]);
      const second = found(await store.fetch(file, mount));
      expect(second).not.toBe(first);
      expect(second.file.crc32c).toBe(crc32cTable(next));
      expect(second.file.view(0, next.length).equals(next)).toBe(true);
      store.clear();
    });
  });
});
