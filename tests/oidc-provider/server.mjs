// A certified OpenID Provider nobody here wrote (panva/node-oidc-provider, pinned in
// package.json), for the engine's and tessera-cli's tests: configured only through its
// documented options, served over loopback TLS with a certificate the test makes.
//
//   PORT=8443 CERT=server.pem KEY=server.key node server.mjs
//
// It prints "ready <issuer>" once listening. Its own behaviour stands: refresh tokens rotate
// and reuse revokes the grant, offline_access needs prompt=consent (OIDC Core §11), profile
// claims come from userinfo (conformIdTokenClaims), loopback redirect URIs match on any port
// (RFC 8252 §7.3), and its dev interactions accept any login and password.

import { readFileSync } from 'node:fs';
import https from 'node:https';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `https://127.0.0.1:${port}`;

// The two test users of the emulator, so the same scripted users sign in.
const users = {
  'ada@tessera.test': { name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' },
  'alan@tessera.test': { name: 'Alan Turing', given_name: 'Alan', family_name: 'Turing' },
};

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), use: 'sig', alg: 'RS256', kid: 'test-key' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'tessera',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/', 'dev.tessera.desktop:/oauth2redirect'],
    post_logout_redirect_uris: ['http://127.0.0.1/'],
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: ['tessera-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, sub) {
    const user = users[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, preferred_username: sub, email: sub, email_verified: true, ...user };
      },
    };
  },
});
// Tests run without NODE_ENV=production: the dev interactions say so on every page, which is
// fine for a fixture.
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

const server = https.createServer(
  { cert: readFileSync(process.env.CERT), key: readFileSync(process.env.KEY) },
  provider.callback(),
);
server.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
