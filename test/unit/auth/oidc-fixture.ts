import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/**
 * A local OIDC issuer: a node:http server on 127.0.0.1 serving a JWKS with one ES256 and one
 * RS256 key, plus a key pair that is deliberately not published.
 */
export interface LocalIssuer {
  issuer: string;
  jwksFetches: () => number;
  sign(claims: JWTPayload, options?: { key?: 'es256' | 'rs256' | 'unpublished' | 'unpublished-as-es256' }): Promise<string>;
  close(): Promise<void>;
}

export async function startLocalIssuer(): Promise<LocalIssuer> {
  const es = await generateKeyPair('ES256', { extractable: true });
  const rs = await generateKeyPair('RS256', { extractable: true });
  const rogue = await generateKeyPair('ES256', { extractable: true });
  const jwks = {
    keys: [
      { ...(await exportJWK(es.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' },
      { ...(await exportJWK(rs.publicKey)), kid: 'rs-1', alg: 'RS256', use: 'sig' },
    ],
  };
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const keys: Record<string, { key: CryptoKey; kid: string; alg: string }> = {
    es256: { key: es.privateKey, kid: 'es-1', alg: 'ES256' },
    rs256: { key: rs.privateKey, kid: 'rs-1', alg: 'RS256' },
    unpublished: { key: rogue.privateKey, kid: 'rogue-1', alg: 'ES256' },
    // A foreign key that claims the published key's id: the signature must not verify.
    'unpublished-as-es256': { key: rogue.privateKey, kid: 'es-1', alg: 'ES256' },
  };

  return {
    issuer: `http://127.0.0.1:${port}`,
    jwksFetches: () => fetches,
    async sign(claims, options = {}) {
      const { key, kid, alg } = keys[options.key ?? 'es256']!;
      return new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections(); // fetch keeps connections alive
      }),
  };
}
