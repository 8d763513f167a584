// Clerk's own verifier as an oracle for tests/test_differential.py.
//
// Reads one JSON document on stdin:
//   { now_ms, pem, publishable_key, jwks: { <name>: <JWK> }, cases: [{ id, token, key, options }] }
// and writes one JSON document on stdout: { clerk_backend_version, results: [{ id, verify, request }] }.
//
// For each case with key "pem", the token goes through @clerk/backend's verifyToken (networkless, jwtKey) and
// through authenticateRequest with the token in an Authorization header, the path an API request takes: that
// adds Clerk's request-level checks (machine tokens, token categories, pending sessions). For a case whose key
// names a JWK, the token goes through verifyJwt with that JWK, as verifyToken does after its JWKS lookup.
// Date.now is pinned to now_ms so both sides judge time claims against the same instant.
//
// Nothing here may reach the network: every key is local, telemetry is disabled, and fetch is replaced before
// @clerk/backend loads (it binds fetch at import), so any attempt fails loudly instead of leaving the machine.
// Anything the SDK prints goes to stderr, so stdout carries the JSON answer alone.

import { readFileSync } from 'node:fs';

process.env.CLERK_TELEMETRY_DISABLED = '1';
globalThis.fetch = async () => {
  throw new Error('the oracle must not use the network');
};
for (const name of ['log', 'info', 'warn', 'debug']) {
  console[name] = (...args) => process.stderr.write(`${args.join(' ')}\n`);
}

const { createClerkClient, verifyToken } = await import('@clerk/backend');
const { verifyJwt } = await import('@clerk/backend/jwt');
const { version } = JSON.parse(
  readFileSync(new URL('./node_modules/@clerk/backend/package.json', import.meta.url), 'utf8'),
);

const input = JSON.parse(readFileSync(0, 'utf8'));
const realNow = Date.now;
Date.now = () => input.now_ms;

function describe(error) {
  if (error && typeof error === 'object' && typeof error.reason === 'string') {
    return { ok: false, reason: error.reason, error: error.constructor?.name ?? 'Error' };
  }
  return { ok: false, reason: null, error: error?.constructor?.name ?? typeof error };
}

async function viaVerifyToken(token, options) {
  try {
    // The package's verifyToken resolves to the payload and throws the TokenVerificationError.
    const payload = await verifyToken(token, { jwtKey: input.pem, ...options });
    return { ok: true, reason: null, error: null, sub: payload.sub ?? null };
  } catch (error) {
    return describe(error);
  }
}

async function viaAuthenticateRequest(client, token, options) {
  try {
    const request = new Request('http://localhost/api', { headers: { authorization: `Bearer ${token}` } });
    const state = await client.authenticateRequest(request, { jwtKey: input.pem, ...options });
    const auth = state.toAuth();
    return {
      status: state.status,
      is_signed_in: state.isSignedIn,
      reason: state.reason ?? null,
      user_id: auth && 'userId' in auth ? (auth.userId ?? null) : null,
    };
  } catch (error) {
    return { status: 'exception', is_signed_in: false, reason: null, user_id: null, error: String(error) };
  }
}

async function viaVerifyJwt(token, jwk, options) {
  try {
    const payload = await verifyJwt(token, { key: jwk, ...options });
    return { ok: true, reason: null, error: null, sub: payload.sub ?? null };
  } catch (error) {
    return describe(error);
  }
}

const client = createClerkClient({
  publishableKey: input.publishable_key,
  // authenticateRequest insists on a secret key; with jwtKey set a header token never uses it (fetch is disabled).
  secretKey: 'sk_test_oracle_never_used',
  jwtKey: input.pem,
  telemetry: { disabled: true },
});
const results = [];
for (const item of input.cases) {
  const options = item.options ?? {};
  if (item.key === 'pem') {
    results.push({
      id: item.id,
      verify: await viaVerifyToken(item.token, options),
      request: await viaAuthenticateRequest(client, item.token, options),
    });
  } else {
    const jwk = input.jwks[item.key];
    if (!jwk) throw new Error(`case ${item.id}: no JWK named ${item.key}`);
    results.push({ id: item.id, verify: await viaVerifyJwt(item.token, jwk, options), request: null });
  }
}
Date.now = realNow;
process.stdout.write(JSON.stringify({ clerk_backend_version: version, results }));
