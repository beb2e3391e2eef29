/**
 * The listener's certificate: PEM files read into a TLS context, checked before use, and read
 * again without a restart (on SIGHUP, and when either file changes) so a renewed certificate
 * takes effect on the next handshake. A new pair that does not load keeps the old one in use.
 */
import { readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { SegdError } from '../config/error.js';
import type { Diagnostics } from '../observe/log.js';

export interface TlsFiles {
  /** PEM certificate, the chain after it. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
}

/**
 * TLS 1.2 suites of Mozilla's "intermediate" profile: forward secrecy and AEAD only. TLS 1.3's
 * five suites are all acceptable and stay OpenSSL's defaults.
 */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** What every TLS context of segd shares; the cert and key come from the files. */
export const TLS_PROTOCOL: SecureContextOptions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: TLS12_CIPHERS };

/** How often the files' stat is polled for a change; polling also sees a replaced symlink (certbot's renewals). */
const WATCH_INTERVAL_MS = 2000;

/**
 * Reads and checks the pair: both PEM, the key matching the certificate. The error names the
 * file and OpenSSL's reason, never the bytes (a key must not reach a log).
 */
export function loadTls(files: TlsFiles): SecureContextOptions {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new SegdError(`cannot read the TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'ESEGDTLS');
    }
  };
  const options: SecureContextOptions = { ...TLS_PROTOCOL, cert: read('certificate', files.cert), key: read('key', files.key) };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new SegdError(`the TLS certificate ${files.cert} and key ${files.key} do not load: ${opensslReason(err)}`, 'ESEGDTLS');
  }
  return options;
}

/** OpenSSL's reason without anything else of the error (its message may carry a library path, never key bytes, but keep it short). */
function opensslReason(err: unknown): string {
  const e = err as { reason?: string; message?: string };
  return e.reason ?? e.message ?? String(err);
}

/** A warning when the key is readable by anyone but its owner: it should be mode 0600 (or 0400). */
export function checkKeyMode(file: string, diag: Diagnostics): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) diag.warn('the TLS private key is readable by other users', { file, mode: mode.toString(8).padStart(4, '0'), reason: 'chmod 600 it' });
}

/**
 * Keeps a TLS server's context in step with the files: reload() on demand, and by itself when a
 * file's size or mtime changes (after a short quiet spell, since a renewal writes two files).
 */
export class TlsReloader {
  private timer: NodeJS.Timeout | undefined;
  private readonly onChange = (): void => {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload('file change'), 500).unref();
  };

  constructor(
    private readonly files: TlsFiles,
    private readonly apply: (options: SecureContextOptions) => void,
    private readonly diag: Diagnostics,
    private readonly events: { reloaded?(ok: boolean): void } = {},
  ) {
    for (const f of [files.cert, files.key]) watchFile(f, { interval: WATCH_INTERVAL_MS, persistent: false }, this.onChange);
  }

  /** Loads the files again; true when the new pair is in use, false (old pair kept, reason logged) otherwise. */
  reload(why: string): boolean {
    let options: SecureContextOptions;
    try {
      options = loadTls(this.files);
    } catch (err) {
      this.diag.error('the new TLS certificate does not load; the old one stays in use', { why, reason: (err as Error).message });
      this.events.reloaded?.(false);
      return false;
    }
    this.apply(options);
    checkKeyMode(this.files.key, this.diag);
    this.diag.info('TLS certificate reloaded', { why, cert: this.files.cert });
    this.events.reloaded?.(true);
    return true;
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const f of [this.files.cert, this.files.key]) unwatchFile(f, this.onChange);
  }
}
