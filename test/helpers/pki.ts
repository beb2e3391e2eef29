/**
 * A test certificate authority and a server certificate it signed (for localhost and
 * 127.0.0.1), made with the openssl command line once per test process. Clients trust the CA
 * explicitly; nothing turns certificate checks off.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** The CA's certificate (PEM), for clients' `ca`. */
  readonly ca: Buffer;
  /** The server's certificate and key files, for `tls: { cert, key }`. */
  readonly files: { readonly cert: string; readonly key: string };
  /** Base64 SHA-256 of the server certificate's public key, for Chromium's --ignore-certificate-errors-spki-list. */
  readonly spki: string;
  /** Issues another certificate for the same names into `dir` (a renewal), with its own key. */
  issue(name: string): { readonly cert: string; readonly key: string };
}

let made: TestPki | undefined;

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function testPki(): TestPki {
  if (made !== undefined) return made;
  const dir = mkdtempSync(join(tmpdir(), 'segd-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=segd test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n');
  const issue = (name: string): { cert: string; key: string } => {
    openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost');
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', 'server.ext');
    chmodSync(join(dir, `${name}.key`), 0o600);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  const files = issue('server');
  const spki = createHash('sha256').update(new X509Certificate(readFileSync(files.cert)).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  made = { dir, ca: readFileSync(join(dir, 'ca.pem')), files, spki, issue };
  return made;
}
