import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** A local OIDC issuer: serves a JWKS on loopback and mints workload tokens. */
export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  token(claims: { sub: string; aud: string; iss?: string; expiresIn?: number; notBefore?: number; alg?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'ES256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    async token({ sub, aud, iss, expiresIn = 300, notBefore }) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'test-key-1' }).setSubject(sub).setAudience(aud).setIssuer(iss ?? issuer).setIssuedAt(now).setExpirationTime(now + expiresIn);
      if (notBefore !== undefined) jwt.setNotBefore(now + notBefore);
      return jwt.sign(privateKey);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
