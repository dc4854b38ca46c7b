// A real OpenID Connect provider (oauth2-mock-server: discovery, JWKS, RS256-signed ID tokens,
// PKCE and nonce checks) for the auth tests. It has no login page, so the account that "signs in"
// is chosen the way a real client hints it: the authorize request's `login_hint` carries the
// identity as JSON, e.g. {"sub":"u1","email":"a@b.c","email_verified":true,"name":"A"}.
//
// Usage: node server.js [port]   — prints `listening <issuer-url>` once ready.
import { OAuth2Server, Events } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

const identities = new Map(); // authorization code -> identity chosen at authorize time

server.service.on(Events.BeforeAuthorizeRedirect, (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  if (code && typeof req.query.login_hint === 'string') {
    identities.set(code, JSON.parse(req.query.login_hint));
  }
});

server.service.on(Events.BeforeTokenSigning, (token, req) => {
  const identity = req.body && identities.get(req.body.code);
  if (identity) Object.assign(token.payload, identity);
});

const port = Number(process.argv[2] ?? 0);
await server.start(port, '127.0.0.1');
console.log(`listening ${server.issuer.url}`);

const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
