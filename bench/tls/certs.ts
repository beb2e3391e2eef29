// A throwaway certificate authority and server certificate for the TLS bench, made with the
// openssl CLI: ECDSA P-256, the leaf valid for localhost and 127.0.0.1, two days.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trackTempDir, which } from '../procs.js';

export interface BenchCerts {
  dir: string;
  /** The CA's certificate (PEM): what the preflight clients trust. */
  ca: string;
  /** The server's certificate (PEM) and key (PEM, mode 0600). */
  cert: string;
  key: string;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync(which('openssl') ?? 'openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${(r.stderr || r.stdout || String(r.error)).trim().slice(-600)}`);
}

/** Makes the CA and the server pair in a new temp dir (removed on exit). */
export function makeCerts(): BenchCerts {
  if (!which('openssl')) throw new Error('openssl not installed (apt-get install openssl)');
  const dir = trackTempDir(mkdtempSync(path.join(os.tmpdir(), 'segd-bench-tls-')));
  const p256 = ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(dir, [...p256, '-out', 'ca.key']);
  openssl(dir, [
    'req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=segd bench throwaway CA', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(dir, [...p256, '-out', 'server.key']);
  chmodSync(path.join(dir, 'server.key'), 0o600);
  openssl(dir, ['req', '-new', '-key', 'server.key', '-subj', '/CN=localhost', '-out', 'server.csr']);
  writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, [
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256',
    '-extfile', 'server.ext', '-out', 'server.pem',
  ]);
  return { dir, ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') };
}
