/**
 * The S3 origin: parsing s3:// URLs (a table), fetching real objects from s3rver with the signed
 * requests, and the signatures themselves, recomputed from the bytes on the wire both by the
 * SDK's signer and by an implementation of the SigV4 documentation written here. s3rver checks
 * that the access key exists and the clock is right, but not V4 signatures: that is why the
 * signatures are checked separately.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { join } from 'node:path';
import S3rver from 's3rver';
import { Agent, request, type Dispatcher } from 'undici';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { parseS3Url, S3Origin, s3Target, type S3Location, type SignedRequest } from '../src/store/origin/s3.js';
import { random, tempTree, type TempTree } from './helpers/content.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The only key pair s3rver knows; it answers InvalidAccessKeyId to any other. */
const S3RVER_KEYS: AwsCredentialIdentity = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const staticCredentials = (c: AwsCredentialIdentity) => async (): Promise<AwsCredentialIdentity> => c;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('parseS3Url', () => {
  type Expected = Partial<Omit<S3Location, 'endpoint'>> & { endpoint?: string };
  const aws = (region: string): string => `https://s3.${region}.amazonaws.com/`;
  const good: [string, string, Parameters<typeof parseS3Url>[1], Record<string, string>, Expected][] = [
    ['bucket only', 's3://media', {}, {}, { bucket: 'media', prefix: '', region: 'us-east-1', endpoint: aws('us-east-1'), pathStyle: false }],
    ['bucket and slash', 's3://media/', {}, {}, { prefix: '' }],
    ['prefix without a trailing slash', 's3://media/live', {}, {}, { prefix: 'live/' }],
    ['prefix with a trailing slash', 's3://media/live/', {}, {}, { prefix: 'live/' }],
    ['nested prefix', 's3://media/a/b', {}, {}, { prefix: 'a/b/' }],
    ['prefix taken literally, not decoded', 's3://media/a%20b/c d/é', {}, {}, { prefix: 'a%20b/c d/é/' }],
    ['scheme in capitals', 'S3://media/x', {}, {}, { bucket: 'media', prefix: 'x/' }],
    ['explicit region', 's3://media', { region: 'eu-west-1' }, {}, { region: 'eu-west-1', endpoint: aws('eu-west-1'), pathStyle: false }],
    ['China partition', 's3://media', { region: 'cn-north-1' }, {}, { endpoint: 'https://s3.cn-north-1.amazonaws.com.cn/' }],
    ['AWS_REGION', 's3://media', {}, { AWS_REGION: 'ap-south-1' }, { region: 'ap-south-1', endpoint: aws('ap-south-1') }],
    ['AWS_DEFAULT_REGION', 's3://media', {}, { AWS_DEFAULT_REGION: 'sa-east-1' }, { region: 'sa-east-1' }],
    ['AWS_REGION before AWS_DEFAULT_REGION', 's3://media', {}, { AWS_REGION: 'eu-north-1', AWS_DEFAULT_REGION: 'sa-east-1' }, { region: 'eu-north-1' }],
    ['the option before the environment', 's3://media', { region: 'us-west-2' }, { AWS_REGION: 'eu-north-1' }, { region: 'us-west-2' }],
    ['empty AWS_REGION is unset', 's3://media', {}, { AWS_REGION: '', AWS_DEFAULT_REGION: 'sa-east-1' }, { region: 'sa-east-1' }],
    ['dotted bucket falls back to path style on AWS', 's3://media.example.com/x', {}, {}, { bucket: 'media.example.com', pathStyle: true }],
    ['legacy bucket name falls back to path style', 's3://Legacy_Bucket', {}, {}, { bucket: 'Legacy_Bucket', pathStyle: true }],
    ['an underscore anywhere is no DNS name', 's3://media_1', {}, {}, { bucket: 'media_1', pathStyle: true }],
    ['one-character bucket', 's3://m/x', {}, {}, { bucket: 'm', prefix: 'x/' }],
    ['path style asked for on AWS', 's3://media', { pathStyle: true }, {}, { pathStyle: true, endpoint: aws('us-east-1') }],
    ['endpoint: path style by default', 's3://media/live', { endpoint: 'http://127.0.0.1:4569' }, {}, { endpoint: 'http://127.0.0.1:4569/', pathStyle: true, region: 'us-east-1' }],
    ['endpoint with a trailing slash', 's3://media', { endpoint: 'http://minio:9000/' }, {}, { endpoint: 'http://minio:9000/' }],
    ['R2', 's3://media', { endpoint: 'https://acct.r2.cloudflarestorage.com', region: 'auto' }, {}, { region: 'auto', pathStyle: true, endpoint: 'https://acct.r2.cloudflarestorage.com/' }],
    ['endpoint, virtual hosting asked for', 's3://media', { endpoint: 'https://minio.example.com', pathStyle: false }, {}, { pathStyle: false }],
    ['dotted bucket virtual-hosted over http', 's3://a.b', { endpoint: 'http://minio.example.com', pathStyle: false }, {}, { pathStyle: false }],
  ];
  it.each(good)('%s: %s', (_name, url, opts, env, expected) => {
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_DEFAULT_REGION', undefined);
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    const { endpoint, ...rest } = parseS3Url(url, opts);
    expect({ ...rest, endpoint: endpoint.href }).toMatchObject(expected);
  });

  const bad: [string, Parameters<typeof parseS3Url>[1], RegExp][] = [
    ['s3://', {}, /no bucket/],
    ['s3:///live', {}, /no bucket/],
    // The scheme's own error, not "no bucket" after a blind cut of five characters.
    ['http://media/live', {}, /": expected s3:\/\/bucket\/prefix/],
    ['media/live', {}, /": expected s3:\/\/bucket\/prefix/],
    ['gs://media/live', {}, /bad S3 URL "gs:\/\/media\/live": expected s3:\/\//],
    ['xs3://media/live', {}, /": expected s3:\/\//],
    ['', {}, /": expected s3:\/\//],
    ['s3://-media', {}, /bad S3 bucket name "-media"/],
    ['s3://me dia', {}, /bad S3 bucket name/],
    ['s3://media./x', {}, /bad S3 bucket name/],
    ['s3://media//x', {}, /bad S3 prefix.*empty/],
    ['s3://media/a//b/', {}, /bad S3 prefix/],
    ['s3://media/a/../b', {}, /bad S3 prefix.*'\.\.'/],
    ['s3://media/./', {}, /bad S3 prefix/],
    ['s3://media', { endpoint: 'not a url' }, /bad S3 endpoint "not a url": not a URL/],
    ['s3://media', { endpoint: 'minio:9000' }, /bad S3 endpoint "minio:9000": expected an http/],
    ['s3://media', { endpoint: 'ftp://minio' }, /expected an http/],
    ['s3://media', { endpoint: 'http://minio:9000/base' }, /only a scheme, a host and a port/],
    ['s3://media', { endpoint: 'http://user:pw@minio:9000' }, /only a scheme, a host and a port/],
    ['s3://media', { endpoint: 'http://minio:9000/?x=1' }, /only a scheme, a host and a port/],
    ['s3://media', { endpoint: 'http://user@minio:9000' }, /only a scheme, a host and a port/],
    ['s3://media', { endpoint: 'http://:pw@minio:9000' }, /only a scheme, a host and a port/],
    ['s3://media', { endpoint: 'http://minio:9000/#x' }, /only a scheme, a host and a port/],
    ['s3://media', { region: 'EU West' }, /bad S3 region "EU West"/],
    ['s3://media', { region: 'eu-west-1!' }, /bad S3 region "eu-west-1!"/],
    ['s3://media', { region: '' }, /bad S3 region/],
    ['s3://media', { endpoint: 'http://127.0.0.1:4569', pathStyle: false }, /virtual-hosted.*IP address/],
    ['s3://media', { endpoint: 'http://[::1]:4569', pathStyle: false }, /IP address/],
    ['s3://media.example.com', { pathStyle: false }, /virtual-hosted.*certificate/],
    ['s3://Legacy_Bucket', { pathStyle: false }, /not a valid DNS name/],
  ];
  it.each(bad)('%s %j is refused in one line', (url, opts, message) => {
    let error: unknown;
    try {
      parseS3Url(url, opts);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('s3Target', () => {
  it('names the bucket and prefix, follows no redirect, and resolves a path to its signed URL (the query left out)', async () => {
    const t = s3Target(parseS3Url('s3://media/vod', { endpoint: 'http://127.0.0.1:4569' }), async () => ({ accessKeyId: 'AKIDTARGET', secretAccessKey: 'secret' }));
    expect(t.name).toBe('s3://media/vod/');
    expect(t.followRedirects).toBe(false);
    const r = await t.resolve('a b.ts', '?x=1', { range: 'bytes=0-1' });
    expect(r.url.href).toBe('http://127.0.0.1:4569/media/vod/a%20b.ts');
    expect(r.headers.range).toBe('bytes=0-1');
    expect(r.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTARGET\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[^,]*range/);
  });
});

/** Keys under the prefix 'live/' with the bytes they hold; the neighbours differ by one character. */
const OBJECTS: Record<string, Buffer> = {
  'live/ts/seg 1.ts': random(70_001),
  'live/ts/seg+1.ts': random(1001),
  'live/ts/seg%201.ts': random(1002),
  'live/vidéo/€.ts': random(5000),
  'live/日本/セグメント 1.m4s': random(3000),
  "live/x/y/z/(1)!*'~.m4s": random(12),
  'other.ts': random(10),
};

async function body(res: Dispatcher.ResponseData): Promise<Buffer> {
  return Buffer.from(await res.body.arrayBuffer());
}

function send(signed: SignedRequest, method: 'GET' | 'HEAD' = 'GET', dispatcher?: Dispatcher): Promise<Dispatcher.ResponseData> {
  return request(signed.url, { method, headers: signed.headers, ...(dispatcher ? { dispatcher } : {}) });
}

/** Host names such as media.s3.localhost reach loopback without depending on the resolver. */
const toLoopback: LookupFunction = (_host, opts, cb) =>
  opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
const loopback = new Agent({ connect: { lookup: toLoopback } });
afterAll(() => loopback.close());

describe('objects from s3rver', () => {
  let dir: TempTree;
  let s3: S3rver;
  let port: number;

  beforeAll(async () => {
    dir = tempTree('segd-s3rver-');
    s3 = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: dir.dir,
      // Host names *.s3.localhost are taken as virtual-hosted buckets, like *.s3.amazonaws.com.
      serviceEndpoint: 'localhost',
      configureBuckets: [{ name: 'media', configs: [] }],
    });
    port = (await s3.run()).port;
    // Uploaded unsigned (s3rver allows it) with encodeURIComponent, not with the code under test.
    for (const [key, bytes] of Object.entries(OBJECTS)) {
      const path = key.split('/').map(encodeURIComponent).join('/');
      const res = await request(`http://127.0.0.1:${port}/media/${path}`, { method: 'PUT', body: bytes });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    }
  });

  afterAll(async () => {
    await s3?.close();
    dir?.remove();
  });

  it('holds exactly the keys uploaded (so the reads below name them, not look-alikes)', async () => {
    const res = await request(`http://127.0.0.1:${port}/media`);
    const xml = (await body(res)).toString();
    const entity = (s: string): string =>
      s.replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16))).replace(/&amp;/g, '&');
    const keys = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => entity(m[1]!));
    expect(keys.sort()).toEqual(Object.keys(OBJECTS).sort());
  });

  it('GETs every key under the prefix, byte for byte, path style', async () => {
    const origin = new S3Origin(parseS3Url('s3://media/live', { endpoint: `http://127.0.0.1:${port}` }), staticCredentials(S3RVER_KEYS));
    for (const [key, bytes] of Object.entries(OBJECTS)) {
      if (!key.startsWith('live/')) continue;
      const res = await send(await origin.sign(key.slice('live/'.length)));
      expect(res.statusCode, key).toBe(200);
      expect((await body(res)).equals(bytes), key).toBe(true);
    }
  });

  it('GETs virtual-hosted style: the bucket in the signed Host header', async () => {
    const origin = new S3Origin(
      parseS3Url('s3://media/live/', { endpoint: `http://s3.localhost:${port}`, pathStyle: false }),
      staticCredentials(S3RVER_KEYS),
    );
    const signed = await origin.sign('vidéo/€.ts');
    expect(signed.url.host).toBe(`media.s3.localhost:${port}`);
    expect(signed.headers.host).toBe(`media.s3.localhost:${port}`);
    const res = await send(signed, 'GET', loopback);
    expect(res.statusCode).toBe(200);
    expect((await body(res)).equals(OBJECTS['live/vidéo/€.ts']!)).toBe(true);
  });

  it('sends a range and the conditional headers it was given', async () => {
    const origin = new S3Origin(parseS3Url('s3://media/live', { endpoint: `http://127.0.0.1:${port}` }), staticCredentials(S3RVER_KEYS));
    const key = 'ts/seg 1.ts';
    const res = await send(await origin.sign(key, { Range: 'bytes=100-199' }));
    expect(res.statusCode).toBe(206);
    expect((await body(res)).equals(OBJECTS[`live/${key}`]!.subarray(100, 200))).toBe(true);

    const head = await send(await origin.sign(key, {}, 'HEAD'), 'HEAD');
    await head.body.dump();
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(OBJECTS[`live/${key}`]!.length));
    const etag = head.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);

    const notModified = await send(await origin.sign(key, { 'If-None-Match': etag }));
    await notModified.body.dump();
    expect(notModified.statusCode).toBe(304);
  });

  it('answers 404 NoSuchKey for a key that does not exist (and for one outside the prefix)', async () => {
    const origin = new S3Origin(parseS3Url('s3://media/live', { endpoint: `http://127.0.0.1:${port}` }), staticCredentials(S3RVER_KEYS));
    for (const path of ['ts/seg 2.ts', 'other.ts']) {
      const res = await send(await origin.sign(path));
      expect(res.statusCode, path).toBe(404);
      expect((await body(res)).toString(), path).toContain('<Code>NoSuchKey</Code>');
    }
  });
});

// ---- Signatures, from the request as it arrived ----

interface Captured {
  readonly method: string;
  /** The request target exactly as sent: what S3 puts in the canonical request. */
  readonly rawPath: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * SigV4 written from the AWS documentation ("Authenticating Requests: Using the Authorization
 * Header", S3 flavour: the path is URI-encoded once, '/' kept), sharing no code with the SDK.
 */
const reference = {
  /** UriEncode(): every UTF-8 byte except A-Z a-z 0-9 - . _ ~ as %XY in upper-case hex; '/' kept in object keys. */
  encodeKey(key: string): string {
    let out = '';
    for (const byte of Buffer.from(key, 'utf8')) {
      const c = String.fromCharCode(byte);
      out += /[A-Za-z0-9\-._~/]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    return out;
  },
  signature(
    req: { method: string; canonicalUri: string; headers: Record<string, string>; signedHeaders: readonly string[] },
    secretAccessKey: string,
    region: string,
  ): string {
    const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();
    const amzDate = req.headers['x-amz-date']!;
    const canonicalHeaders = req.signedHeaders.map((h) => `${h}:${req.headers[h]!.trim().replace(/\s+/g, ' ')}\n`).join('');
    const canonicalRequest = [
      req.method,
      req.canonicalUri,
      '', // no query string
      canonicalHeaders,
      req.signedHeaders.join(';'),
      req.headers['x-amz-content-sha256']!,
    ].join('\n');
    const date = amzDate.slice(0, 8);
    const scope = `${date}/${region}/s3/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join('\n');
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), 's3'), 'aws4_request');
    return hmac(signingKey, stringToSign).toString('hex');
  },
};

function parseAuthorization(value: string | undefined): { accessKeyId: string; date: string; region: string; signedHeaders: string[]; signature: string } {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(value ?? '');
  if (m === null) throw new Error(`not a SigV4 Authorization header: ${value}`);
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, signedHeaders: m[4]!.split(';'), signature: m[5]! };
}

function headerMap(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(',') : value;
  return out;
}

/** The SDK's signer, fed only what arrived on the wire and the credentials. */
async function sdkSignature(c: Captured, credentials: AwsCredentialIdentity, region: string): Promise<string> {
  const wire = headerMap(c.headers);
  const auth = parseAuthorization(wire.authorization);
  const headers = Object.fromEntries(auth.signedHeaders.map((h) => [h, wire[h]!]));
  const d = wire['x-amz-date']!;
  const signingDate = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
  const signer = new SignatureV4({ service: 's3', region, credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });
  const signed = await signer.sign({ method: c.method, protocol: 'http:', hostname: '127.0.0.1', path: c.rawPath, query: {}, headers }, { signingDate });
  return parseAuthorization(signed.headers.authorization).signature;
}

describe('SigV4 signatures', () => {
  let capture: Server;
  let port: number;
  const seen: Captured[] = [];

  beforeAll(async () => {
    // Stands where S3 would be and records each request as it arrived.
    capture = createServer((req, res) => {
      seen.push({ method: req.method!, rawPath: req.url!, headers: req.headers });
      res.end();
    });
    await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
    port = (capture.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => capture?.close(resolve));
  });

  /** Sends the signed request to the capture server and returns what it saw. */
  async function roundTrip(signed: SignedRequest, method: 'GET' | 'HEAD' = 'GET', dispatcher?: Dispatcher): Promise<Captured> {
    seen.length = 0;
    const res = await send(signed, method, dispatcher);
    await res.body.dump();
    expect(seen).toHaveLength(1);
    return seen[0]!;
  }

  it('the reference implementation reproduces the example of the S3 documentation', () => {
    // "Example: GET Object" (sig-v4-header-based-auth), with AWS's example keys.
    const signature = reference.signature(
      {
        method: 'GET',
        canonicalUri: reference.encodeKey('/test.txt'),
        headers: {
          host: 'examplebucket.s3.amazonaws.com',
          range: 'bytes=0-9',
          'x-amz-content-sha256': EMPTY_SHA256,
          'x-amz-date': '20130524T000000Z',
        },
        signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'],
      },
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'us-east-1',
    );
    expect(signature).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  const credentials: AwsCredentialIdentity = { accessKeyId: 'AKIDSEGDTEST', secretAccessKey: 'segd/secret+key=' };
  const region = 'eu-west-1';
  // Expected targets written out by hand from the UriEncode rules, not computed.
  const keys: [string, string][] = [
    ['ts/seg 1.ts', '/media/live/ts/seg%201.ts'],
    ['ts/seg+1.ts', '/media/live/ts/seg%2B1.ts'],
    ['ts/100%.ts', '/media/live/ts/100%25.ts'],
    ['vidéo/€.ts', '/media/live/vid%C3%A9o/%E2%82%AC.ts'],
    ['日本/セグメント 1.m4s', '/media/live/%E6%97%A5%E6%9C%AC/%E3%82%BB%E3%82%B0%E3%83%A1%E3%83%B3%E3%83%88%201.m4s'],
    ["x/(1)!*'~.m4s", '/media/live/x/%281%29%21%2A%27~.m4s'],
    ['a//b.ts', '/media/live/a//b.ts'],
  ];

  it.each(keys)('%s is sent as %s and its signature recomputes, by the SDK and by the documentation', async (path, target) => {
    const origin = new S3Origin(parseS3Url('s3://media/live', { endpoint: `http://127.0.0.1:${port}`, region }), staticCredentials(credentials));
    const c = await roundTrip(await origin.sign(path, { Range: 'bytes=0-99', 'If-None-Match': '"abc"' }));
    expect(c.rawPath).toBe(target);
    expect(c.rawPath).toBe(`/media/${reference.encodeKey(`live/${path}`)}`);

    const wire = headerMap(c.headers);
    const auth = parseAuthorization(wire.authorization);
    expect(auth).toMatchObject({ accessKeyId: credentials.accessKeyId, region, date: wire['x-amz-date']!.slice(0, 8) });
    expect(auth.signedHeaders).toEqual(['host', 'if-none-match', 'range', 'x-amz-content-sha256', 'x-amz-date']);
    expect(wire.host).toBe(`127.0.0.1:${port}`);
    expect(wire['x-amz-content-sha256']).toBe(EMPTY_SHA256);

    expect(await sdkSignature(c, credentials, region)).toBe(auth.signature);
    const canonicalUri = `/media/${reference.encodeKey(`live/${path}`)}`;
    expect(reference.signature({ method: c.method, canonicalUri, headers: wire, signedHeaders: auth.signedHeaders }, credentials.secretAccessKey, region)).toBe(
      auth.signature,
    );
    // A different secret must not verify: the comparisons above can fail.
    expect(reference.signature({ method: c.method, canonicalUri, headers: wire, signedHeaders: auth.signedHeaders }, 'wrong', region)).not.toBe(auth.signature);
  });

  it('signs HEAD, virtual-hosted Host headers and x-amz-checksum-mode; user-agent goes out unsigned, as SigV4 requires', async () => {
    const origin = new S3Origin(
      parseS3Url('s3://media/live', { endpoint: `http://s3.localhost:${port}`, region, pathStyle: false }),
      staticCredentials(credentials),
    );
    const signed = await origin.sign('vidéo/€.ts', { 'x-amz-checksum-mode': 'ENABLED', 'User-Agent': 'segd-test' }, 'HEAD');
    const c = await roundTrip(signed, 'HEAD', loopback);
    const wire = headerMap(c.headers);
    const auth = parseAuthorization(wire.authorization);
    expect(c.method).toBe('HEAD');
    expect(c.rawPath).toBe('/live/vid%C3%A9o/%E2%82%AC.ts');
    expect(wire.host).toBe(`media.s3.localhost:${port}`);
    expect(wire['user-agent']).toBe('segd-test');
    expect(auth.signedHeaders).toEqual(['host', 'x-amz-checksum-mode', 'x-amz-content-sha256', 'x-amz-date']);
    const canonicalUri = `/${reference.encodeKey('live/vidéo/€.ts')}`;
    expect(reference.signature({ method: 'HEAD', canonicalUri, headers: wire, signedHeaders: auth.signedHeaders }, credentials.secretAccessKey, region)).toBe(
      auth.signature,
    );
  });

  it('sends and signs a session token', async () => {
    const temporary = { ...credentials, sessionToken: 'FwoGZXIvYXdzE+token/with=chars' };
    const origin = new S3Origin(parseS3Url('s3://media/live', { endpoint: `http://127.0.0.1:${port}`, region }), staticCredentials(temporary));
    const c = await roundTrip(await origin.sign('ts/seg 1.ts'));
    const wire = headerMap(c.headers);
    const auth = parseAuthorization(wire.authorization);
    expect(wire['x-amz-security-token']).toBe(temporary.sessionToken);
    expect(auth.signedHeaders).toContain('x-amz-security-token');
    expect(await sdkSignature(c, temporary, region)).toBe(auth.signature);
    expect(reference.signature({ method: 'GET', canonicalUri: c.rawPath, headers: wire, signedHeaders: auth.signedHeaders }, temporary.secretAccessKey, region)).toBe(
      auth.signature,
    );
  });

  it('takes credentials from the environment through the default chain, and resolves them once', async () => {
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true'); // never reach for an instance metadata service
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFROMENV');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret-from-env');
    vi.stubEnv('AWS_SESSION_TOKEN', 'token-from-env');
    const location = parseS3Url('s3://media/live', { endpoint: `http://127.0.0.1:${port}`, region });
    const origin = new S3Origin(location);
    const first = await roundTrip(await origin.sign('ts/seg 1.ts'));
    const wire = headerMap(first.headers);
    const auth = parseAuthorization(wire.authorization);
    expect(auth.accessKeyId).toBe('AKIDFROMENV');
    expect(wire['x-amz-security-token']).toBe('token-from-env');
    expect(reference.signature({ method: 'GET', canonicalUri: first.rawPath, headers: wire, signedHeaders: auth.signedHeaders }, 'secret-from-env', region)).toBe(
      auth.signature,
    );

    // Credentials without an expiry are kept, as the SDK keeps them: the chain is not re-run;
    // a new origin runs it again and sees the change.
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDCHANGED');
    const accessKeyId = async (o: S3Origin): Promise<string> => parseAuthorization((await o.sign('ts/seg 1.ts')).headers.authorization).accessKeyId;
    expect(await accessKeyId(origin)).toBe('AKIDFROMENV');
    expect(await accessKeyId(new S3Origin(location))).toBe('AKIDCHANGED');
  });

  it('takes credentials from a profile in the shared credentials file (AWS_PROFILE)', async () => {
    const home = tempTree('segd-aws-');
    try {
      home.write('credentials', '[segd-test]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = secret-from-profile\n');
      vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', undefined);
      vi.stubEnv('AWS_SESSION_TOKEN', undefined);
      vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
      vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(home.dir, 'credentials'));
      vi.stubEnv('AWS_CONFIG_FILE', join(home.dir, 'config'));
      vi.stubEnv('AWS_PROFILE', 'segd-test');
      const origin = new S3Origin(parseS3Url('s3://media/live', { endpoint: `http://127.0.0.1:${port}`, region }));
      const c = await roundTrip(await origin.sign('ts/seg 1.ts'));
      const wire = headerMap(c.headers);
      const auth = parseAuthorization(wire.authorization);
      expect(auth.accessKeyId).toBe('AKIDFROMPROFILE');
      expect(wire['x-amz-security-token']).toBeUndefined();
      expect(reference.signature({ method: 'GET', canonicalUri: c.rawPath, headers: wire, signedHeaders: auth.signedHeaders }, 'secret-from-profile', region)).toBe(
        auth.signature,
      );
    } finally {
      home.remove();
    }
  });

  it("memoizes a caller's provider as the SDK does: once while valid, again when about to expire", async () => {
    const location = parseS3Url('s3://media', { endpoint: `http://127.0.0.1:${port}` });
    let calls = 0;
    const counting = (expiresInMs: number | undefined) => async (): Promise<AwsCredentialIdentity> => {
      calls++;
      return { ...credentials, ...(expiresInMs === undefined ? {} : { expiration: new Date(Date.now() + expiresInMs) }) };
    };
    const forever = new S3Origin(location, counting(undefined));
    await Promise.all(Array.from({ length: 10 }, () => forever.sign('a.ts')));
    for (let i = 0; i < 5; i++) await forever.sign('a.ts');
    expect(calls).toBe(1);

    calls = 0;
    const hourly = new S3Origin(location, counting(3_600_000));
    for (let i = 0; i < 5; i++) await hourly.sign('a.ts');
    expect(calls).toBe(1);

    calls = 0;
    // Within the SDK's five-minute window: each use refreshes.
    const expiring = new S3Origin(location, counting(60_000));
    for (let i = 0; i < 3; i++) await expiring.sign('a.ts');
    expect(calls).toBeGreaterThanOrEqual(3);
  });

  it('refuses paths that cannot name an object', async () => {
    const origin = new S3Origin(parseS3Url('s3://media', { endpoint: `http://127.0.0.1:${port}` }), staticCredentials(credentials));
    for (const path of ['', '/abs.ts', 'a/../b.ts', './a.ts', 'a/.']) {
      await expect(origin.sign(path), path).rejects.toThrow(/S3 object path/);
    }
  });
});
