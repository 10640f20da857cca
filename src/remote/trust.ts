/**
 * The certificates HTTPS sources are checked against: Node's bundled roots, the system's store (where
 * Debian's update-ca-certificates puts local CAs), and NODE_EXTRA_CA_CERTS. Node alone would use only the
 * first and the last; a company CA installed system-wide must work as it does for curl.
 *
 * One SecureContext for the run: parsing a few hundred roots per connection would cost milliseconds each.
 */
import fs from 'node:fs';
import tls from 'node:tls';

/** Where distributions keep the system bundle; SSL_CERT_FILE overrides, as for OpenSSL and curl. */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

export function trustedContext(env: NodeJS.ProcessEnv = process.env): tls.SecureContext {
  const bundles = [env.SSL_CERT_FILE ?? SYSTEM_BUNDLES.find((file) => fs.existsSync(file)), env.NODE_EXTRA_CA_CERTS];
  const ca = [...tls.rootCertificates, ...bundles.flatMap((file) => (file === undefined ? [] : readPem(file)))];
  return tls.createSecureContext({ ca });
}

/** A bundle that cannot be read adds nothing (Node itself warns about a bad NODE_EXTRA_CA_CERTS). */
function readPem(file: string): string[] {
  try {
    return [fs.readFileSync(file, 'utf8')];
  } catch {
    return [];
  }
}
