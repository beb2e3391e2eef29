/**
 * S3 (or an S3-compatible store: MinIO, Ceph RGW, R2) as an origin: where `s3://bucket/prefix`
 * points, and the signed GET or HEAD that fetches one object under it. Sending the request is the
 * caller's job.
 *
 * Signing is the AWS SDK's own SigV4 signer configured as the SDK's S3 client configures it, and
 * credentials come from the SDK's Node provider chain, so segd signs whatever the AWS CLI would.
 */
import { isIP } from 'node:net';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { doesIdentityRequireRefresh, isIdentityExpired, memoizeIdentityProvider } from '@smithy/core';
import { escapeUriPath } from '@smithy/core/protocols';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { Target } from './client.js';

export interface S3Location {
  readonly bucket: string;
  /** '' or 'a/b/': always ends with '/' when non-empty. */
  readonly prefix: string;
  readonly region: string;
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:4569 */
  readonly endpoint: URL;
  /** true: https://endpoint/bucket/key; false: https://bucket.endpoint-host/key */
  readonly pathStyle: boolean;
}

export interface S3UrlOptions {
  readonly endpoint?: string;
  readonly region?: string;
  readonly pathStyle?: boolean;
}

/** Legacy S3 buckets and S3-compatible stores allow upper case and '_' too; DNS rules are checked only for virtual hosting. */
const BUCKET = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$/;
const DNS_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const REGION = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** s3://bucket/prefix plus options → S3Location. Throws an Error whose message fits one CLI line for bad input. */
export function parseS3Url(url: string, opts: S3UrlOptions = {}): S3Location {
  if (!/^s3:\/\//i.test(url)) throw new Error(`bad S3 URL "${url}": expected s3://bucket/prefix`);
  // Split by hand: WHATWG URL treats s3: as opaque and would percent-encode the bucket.
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  if (bucket === '') throw new Error(`bad S3 URL "${url}": no bucket (expected s3://bucket/prefix)`);
  if (!BUCKET.test(bucket)) {
    throw new Error(`bad S3 bucket name "${bucket}": letters, digits, '.', '-' and '_', starting and ending with a letter or digit`);
  }
  const prefix = parsePrefix(url, slash === -1 ? '' : rest.slice(slash + 1));

  const region = opts.region ?? (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1');
  if (!REGION.test(region)) throw new Error(`bad S3 region "${region}": expected a name such as eu-west-1`);

  const endpoint = opts.endpoint === undefined ? awsEndpoint(region) : parseEndpoint(opts.endpoint);
  const unhostable = virtualHostProblem(bucket, endpoint);
  // Stores behind --s3-endpoint rarely have wildcard DNS for buckets; AWS itself falls back to path
  // style for bucket names it cannot put in a host name, as the SDK does.
  const pathStyle = opts.pathStyle ?? (opts.endpoint !== undefined || unhostable !== undefined);
  if (!pathStyle && unhostable !== undefined) {
    throw new Error(`bucket "${bucket}" cannot be addressed virtual-hosted style: ${unhostable}; use path style`);
  }
  return { bucket, prefix, region, endpoint, pathStyle };
}

/** The key prefix as written (S3 URLs are not percent-decoded, as in the AWS CLI), ending with '/'. */
function parsePrefix(url: string, raw: string): string {
  if (raw === '') return '';
  const prefix = raw.endsWith('/') ? raw : `${raw}/`;
  // URL parsers drop '.' and '..' segments, so keys under them cannot be requested at all.
  if (prefix.slice(0, -1).split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(`bad S3 prefix in "${url}": empty, '.' and '..' path segments are not allowed`);
  }
  return prefix;
}

function awsEndpoint(region: string): URL {
  return new URL(`https://s3.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`);
}

function parseEndpoint(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`bad S3 endpoint "${text}": not a URL (expected http://host:port or https://host)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`bad S3 endpoint "${text}": expected an http:// or https:// URL`);
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new Error(`bad S3 endpoint "${text}": expected only a scheme, a host and a port`);
  }
  return url;
}

/** Why `bucket` cannot be a label of the endpoint's host name, or undefined when it can. */
function virtualHostProblem(bucket: string, endpoint: URL): string | undefined {
  if (!DNS_NAME.test(bucket)) return 'the name is not a valid DNS name';
  if (isIP(endpoint.hostname.replace(/^\[|\]$/g, '')) !== 0) return 'the endpoint is an IP address';
  // A TLS wildcard certificate for *.host covers one label only.
  if (bucket.includes('.') && endpoint.protocol === 'https:') return "its dots do not fit the endpoint's certificate";
  return undefined;
}

export interface SignedRequest {
  readonly url: URL;
  /** Every header to send, `host` included: each is signed except those SigV4 never signs (user-agent, cache-control...). */
  readonly headers: Record<string, string>;
}

export class S3Origin {
  readonly #location: S3Location;
  readonly #signer: SignatureV4;

  /** `credentials` defaults to the SDK's Node chain: env vars, AWS_PROFILE and ~/.aws, SSO, process, web identity, ECS, EC2. */
  constructor(location: S3Location, credentials?: AwsCredentialIdentityProvider) {
    this.#location = location;
    this.#signer = new SignatureV4({
      service: 's3',
      region: location.region,
      credentials: memoized(credentials),
      sha256: Hash.bind(null, 'sha256'),
      // S3 signs the path exactly as sent, escaped once (the SDK's S3 client sets
      // signingEscapePath: false); the default would escape the escapes a second time.
      uriEscapePath: false,
    });
  }

  /**
   * Signed GET (or HEAD) for `path`, a decoded root-relative path such as 'ts/seg 1.ts' (no leading
   * slash). `headers` (range, if-none-match, x-amz-checksum-mode...) are sent and signed too. The
   * payload hash is that of the empty body, as the SDK sends for GetObject.
   */
  async sign(path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<SignedRequest> {
    const url = objectUrl(this.#location, objectKey(this.#location.prefix, path));
    const lowered: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) lowered[name.toLowerCase()] = value;
    const signed = await this.#signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      path: url.pathname,
      query: {},
      // Signed as the client will send it: URL.host drops a default port, as HTTP clients do.
      headers: { ...lowered, host: url.host },
    });
    return { url, headers: signed.headers };
  }
}

/** The SDK's chain memoizes itself; a caller's provider is memoized as the SDK's clients do it, so no sign() re-runs a lookup. */
function memoized(credentials: AwsCredentialIdentityProvider | undefined): AwsCredentialIdentityProvider {
  if (credentials === undefined) return defaultProvider();
  // Undefined only for an undefined provider.
  return memoizeIdentityProvider(credentials, isIdentityExpired, doesIdentityRequireRefresh)!;
}

function objectKey(prefix: string, path: string): string {
  if (path === '' || path.startsWith('/')) throw new Error(`S3 object path must be root-relative and non-empty: "${path}"`);
  // URL parsers drop '.' and '..' segments, even percent-encoded: the request would name another key.
  if (path.split('/').some((s) => s === '.' || s === '..')) throw new Error(`S3 object path has a dot segment: "${path}"`);
  return prefix + path;
}

/** Each segment escaped as S3 expects (RFC 3986 unreserved characters kept, '/' kept), the escaping the SDK uses. */
function objectUrl(location: S3Location, key: string): URL {
  const path = escapeUriPath(key);
  const { endpoint, bucket } = location;
  return location.pathStyle
    ? new URL(`${endpoint.origin}/${bucket}/${path}`)
    : new URL(`${endpoint.protocol}//${bucket}.${endpoint.host}/${path}`);
}

/** The bucket as an origin: every request signed, redirects not followed (a signature is for one URL). */
export function s3Target(location: S3Location, credentials?: AwsCredentialIdentityProvider): Target {
  const s3 = new S3Origin(location, credentials);
  return {
    name: `s3://${location.bucket}/${location.prefix}`,
    followRedirects: false,
    // S3 objects are named by their key alone: content-selecting query parameters do not apply.
    resolve: (path, _query, headers) => s3.sign(path, headers),
  };
}
