// A real OpenID Connect provider for the identity integration test:
// panva's oidc-provider (OpenID Certified), pinned in package.json, on
// loopback. It issues RFC 9068 JWT access tokens (typ at+jwt, RS256) by the
// client credentials grant for the resources (RFC 8707 resource
// indicators) of its config, with the client's role in the roles claim.
//
//   node server.js [port] <config.json>
//
// port 0 (or none; PORT in the environment otherwise) takes a free one. The
// config is {"clients": [{"client_id", "client_secret", "jf_role",
// "token_endpoint_auth_method"?}], "resources": ["https://…"]}; each
// resource's audience is its identifier. Once listening, the one line
// "oidc-provider ready <issuer>" goes to stdout; the provider's own notices
// go to stderr.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const args = process.argv.slice(2);
const file = args.pop();
if (!file) {
  console.error('usage: node server.js [port] <config.json>');
  process.exit(2);
}
const port = Number(args[0] ?? process.env.PORT ?? 0);
const config = JSON.parse(readFileSync(file, 'utf8'));
const resources = new Set(config.resources ?? []);

// A key of this run: never the provider's public development keys.
const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
jwk.kid = randomBytes(8).toString('hex');
jwk.alg = 'RS256';
jwk.use = 'sig';

const configuration = {
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  clients: (config.clients ?? []).map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    jf_role: c.jf_role,
  })),
  // The client's role, as the municipality's IdP would give a department
  // system (a hard-coded claim or an app role on the client).
  extraClientMetadata: { properties: ['jf_role'] },
  async extraTokenClaims(ctx, token) {
    const client = token.client ?? await ctx.oidc.provider.Client.find(token.clientId);
    const role = client?.metadata().jf_role;
    return role ? { roles: [role] } : undefined;
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      async defaultResource() { return undefined; },
      async useGrantedResource() { return false; },
      async getResourceServerInfo(ctx, resourceIndicator) {
        if (!resources.has(resourceIndicator)) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'api',
          audience: resourceIndicator,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600 },
};

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  server.on('request', provider.callback());
  console.log(`oidc-provider ready ${issuer}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
