import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Certificates made by the real openssl binary in a temp dir, so the tests load exactly what
 * users make with the commands in the README and docs/tls.md. Fails with a clear message if openssl
 * is missing (Debian package `openssl`, listed in scripts/system-packages.txt).
 */
export interface Pair {
  cert: string;
  key: string;
}

export class CertFactory {
  readonly dir: string;

  constructor(prefix = 'wsfy-tls-') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  private openssl(args: string[]): void {
    try {
      execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT') throw new Error('openssl not found: install the Debian package "openssl" (scripts/system-packages.txt)');
      throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
    }
  }

  /** A self-signed CA. */
  ca(name: string): Pair {
    const pair = { cert: this.file(`${name}.crt`), key: this.file(`${name}.key`) };
    this.openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      pair.key,
      '-out',
      pair.cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return pair;
  }

  /** A certificate signed by `issuer`; server ones get SANs for localhost and the loopback IPs. */
  signed(name: string, issuer: Pair, kind: 'server' | 'client' | 'ca', cn = name): Pair {
    const pair = { cert: this.file(`${name}.crt`), key: this.file(`${name}.key`) };
    const csr = this.file(`${name}.csr`);
    const ext = this.file(`${name}.ext`);
    fs.writeFileSync(
      ext,
      kind === 'server'
        ? 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n'
        : kind === 'client'
          ? 'extendedKeyUsage=clientAuth\n'
          : 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n',
    );
    this.openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pair.key, '-out', csr, '-subj', `/CN=${cn}`]);
    this.openssl(['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-out', pair.cert, '-days', '2', '-extfile', ext]);
    return pair;
  }

  /** The README's one-liner: a self-signed cert with its key in the same file. */
  selfPem(name: string, cn = 'localhost'): string {
    const file = this.file(`${name}.pem`);
    this.openssl([
      'req',
      '-new',
      '-x509',
      '-days',
      '2',
      '-nodes',
      '-newkey',
      'rsa:2048',
      '-out',
      file,
      '-keyout',
      file,
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ]);
    return file;
  }

  /** The key re-written encrypted with `password` (PKCS#8, AES-256). */
  encryptKey(key: string, password: string, name: string): string {
    const out = this.file(`${name}.key`);
    this.openssl(['pkcs8', '-topk8', '-in', key, '-out', out, '-v2', 'aes-256-cbc', '-passout', `pass:${password}`]);
    return out;
  }

  concat(name: string, ...files: string[]): string {
    const out = this.file(name);
    fs.writeFileSync(out, files.map((f) => fs.readFileSync(f, 'utf8')).join(''));
    return out;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
