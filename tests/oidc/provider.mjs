// A real OpenID provider for the console's sign-in tests: npm's
// oidc-provider (by panva), with its own development login and consent
// pages, serving HTTPS on loopback. Run by tests/oidc_server.py:
//   node provider.mjs PORT ISSUER CERT KEY
// with OIDC_PROVIDER_MODULE (where oidc-provider is installed) and
// OIDC_SETUP (JSON: the client, and each account's groups) in the environment.
import fs from 'node:fs';
import https from 'node:https';
import { pathToFileURL } from 'node:url';

const [port, issuer, certFile, keyFile] = process.argv.slice(2);
const setup = JSON.parse(process.env.OIDC_SETUP);
const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER_MODULE).href);

const provider = new Provider(issuer, {
  clients: [{
    client_id: setup.client_id,
    client_secret: setup.client_secret,
    redirect_uris: [setup.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username'], groups: ['groups'] },
  conformIdTokenClaims: false, // the claims in the ID token itself, as the store reads them
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['filestoraged-tests'] },
  async findAccount(ctx, id) {
    const account = setup.accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, preferred_username: id, groups: account.groups }) };
  },
});
const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
                                  provider.callback());
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
