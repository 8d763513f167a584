// Integration tests against a real node:http server on 127.0.0.1: real sockets, real fetch (undici).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { ApiError, TokenRefreshError, createApiClient } from "../src/index.js";

const PROBLEM = {
  type: "https://clerk-sync.dev/problems/token-expired",
  title: "Unauthorized",
  status: 401,
  detail: "The session token has expired.",
  code: "token-expired",
};

/** A tiny API: 200 for a currently valid bearer token, else clerk-sync's problem+json 401. Records every hit. */
async function startServer() {
  const state = { valid: new Set(), hits: [], onHit: null };
  const server = http.createServer(async (req, res) => {
    res.on("error", () => {});
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString();
    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : null;
    const url = new URL(req.url, "http://localhost");
    state.hits.push({ method: req.method, path: url.pathname, token, body, type: req.headers["content-type"] });
    state.onHit?.(state.hits.length);
    if (token === null || !state.valid.has(token)) {
      res.writeHead(401, {
        "content-type": "application/problem+json",
        "www-authenticate": 'Bearer error="invalid_token"',
      });
      res.end(JSON.stringify(PROBLEM));
      return;
    }
    const delay = Number(url.searchParams.get("delay") ?? 0);
    if (delay) await sleep(delay);
    if (url.pathname.endsWith("/empty")) {
      res.writeHead(204).end();
    } else if (url.pathname.endsWith("/unavailable")) {
      res.writeHead(503, { "content-type": "application/problem+json", "retry-after": "2" });
      res.end(JSON.stringify({ title: "Service Unavailable", status: 503, code: "database-unavailable" }));
    } else {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, method: req.method, path: url.pathname, body }));
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    reset(...valid) {
      state.valid = new Set(valid);
      state.hits = [];
      state.onHit = null;
    },
    tokens() {
      const counts = {};
      for (const hit of state.hits) counts[hit.token] = (counts[hit.token] ?? 0) + 1;
      return counts;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/**
 * Behaves like Clerk's getToken: serves `tok-N` from its cache; `{ skipCache: true }` mints `tok-N+1` after
 * `delay` ms. Records every call's options.
 */
function clerkLikeGetToken({ delay = 20, fail = null, signedOut = false } = {}) {
  const source = {
    n: 0,
    calls: [],
    get refreshes() {
      return source.calls.filter((options) => options?.skipCache).length;
    },
    getToken: async (options) => {
      source.calls.push(options);
      if (!options?.skipCache) return `tok-${source.n}`;
      await sleep(delay);
      if (fail) throw fail;
      if (signedOut) return null;
      source.n += 1;
      return `tok-${source.n}`;
    },
  };
  return source;
}

let api;
before(async () => {
  api = await startServer();
});
after(async () => {
  await api.close();
});
beforeEach(() => {
  api.reset("tok-1"); // tok-0 has "expired": every token source starts on it
});

describe("token attachment", () => {
  test("sends the current token and does not refresh on success", async () => {
    api.reset("tok-0");
    const source = clerkLikeGetToken();
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const response = await client.fetch("/me");
    assert.equal(response.status, 200);
    assert.deepEqual(api.state.hits.map((h) => h.token), ["tok-0"]);
    assert.deepEqual(source.calls, [undefined]);
  });

  test("joins paths onto baseUrl's path prefix", async () => {
    const source = clerkLikeGetToken();
    const client = createApiClient({ baseUrl: `${api.url}/api/`, getToken: source.getToken });
    const body = await client.getJson("//items?x=1");
    assert.equal(body.path, "/api/items");
  });

  test("never sends the token to another origin", async () => {
    const source = clerkLikeGetToken();
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    await assert.rejects(client.fetch("https://evil.example/steal"), TypeError);
    assert.equal(source.calls.length, 0);
    assert.equal(api.state.hits.length, 0);
  });

  test("a signed-out user (null) is sent without an Authorization header", async () => {
    const client = createApiClient({ baseUrl: api.url, getToken: async () => null });
    const response = await client.fetch("/public");
    assert.equal(response.status, 401);
    assert.deepEqual(api.state.hits.map((h) => h.token), [null]);
  });

  test("uses the fetch given in the options", async () => {
    const urls = [];
    const client = createApiClient({
      baseUrl: api.url,
      getToken: clerkLikeGetToken().getToken,
      fetch: (input, init) => {
        urls.push(String(input));
        return globalThis.fetch(input, init);
      },
    });
    assert.equal((await client.fetch("/me")).status, 200);
    assert.deepEqual(urls, [`${api.url}/me`, `${api.url}/me`]);
  });
});

describe("401: one shared refresh, one resend", () => {
  test("50 concurrent 401s share one refresh; each is resent once and succeeds", async () => {
    const source = clerkLikeGetToken({ delay: 100 });
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.postJson(`/items/${i}`, { i })),
    );
    assert.deepEqual(
      results.map((r) => r.body),
      Array.from({ length: 50 }, (_, i) => JSON.stringify({ i })),
    );
    assert.equal(source.refreshes, 1);
    assert.deepEqual(api.tokens(), { "tok-0": 50, "tok-1": 50 });
  });

  test("a second 401 is returned, not retried: the server sees exactly two requests", async () => {
    api.reset(); // nothing is accepted
    const source = clerkLikeGetToken();
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const response = await client.fetch("/me");
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), PROBLEM);
    assert.deepEqual(api.state.hits.map((h) => h.token), ["tok-0", "tok-1"]);
    assert.equal(source.refreshes, 1);
  });

  test("a ReadableStream body is not resent; the refreshed token serves the caller's own resend", async () => {
    const source = clerkLikeGetToken();
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const stream = () =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("chunk-1,"));
          controller.enqueue(new TextEncoder().encode("chunk-2"));
          controller.close();
        },
      });
    const response = await client.fetch("/upload", { method: "POST", body: stream(), duplex: "half" });
    assert.equal(response.status, 401);
    assert.deepEqual(api.state.hits.map((h) => [h.token, h.body]), [["tok-0", "chunk-1,chunk-2"]]);
    const again = await client.fetch("/upload", { method: "POST", body: stream(), duplex: "half" });
    assert.equal(again.status, 200);
    assert.equal(source.refreshes, 1);
  });

  test("replayable bodies (string, Blob, URLSearchParams, bytes) are resent intact", async () => {
    const client = createApiClient({ baseUrl: api.url, getToken: clerkLikeGetToken().getToken });
    const bodies = ["plain", new Blob(["blob"]), new URLSearchParams({ a: "1" }), new TextEncoder().encode("u8")];
    for (const body of bodies) {
      const response = await client.fetch("/echo", { method: "PUT", body });
      assert.equal(response.status, 200);
    }
    assert.deepEqual(
      api.state.hits.filter((h) => h.token === "tok-1").map((h) => h.body),
      ["plain", "blob", "a=1", "u8"],
    );
  });

  test("a refresh that yields null (signed out) returns the 401 without a resend", async () => {
    const source = clerkLikeGetToken({ signedOut: true });
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const response = await client.fetch("/me");
    assert.equal(response.status, 401);
    assert.equal(api.state.hits.length, 1);
  });

  test("a token that does not change on refresh is not resent", async () => {
    const client = createApiClient({ baseUrl: api.url, getToken: () => "static" });
    const response = await client.fetch("/me");
    assert.equal(response.status, 401);
    assert.equal(api.state.hits.length, 1);
  });

  test("a failing refresh rejects every waiter with TokenRefreshError after one attempt", async () => {
    const cause = new Error("Clerk unreachable");
    const source = clerkLikeGetToken({ fail: cause });
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => client.fetch("/me")));
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof TokenRefreshError);
      assert.equal(result.reason.code, "token-refresh-failed");
      assert.equal(result.reason.cause, cause);
    }
    assert.equal(source.refreshes, 1);
  });

  test("getToken throwing before the first send rejects with TokenRefreshError", async () => {
    const client = createApiClient({
      baseUrl: api.url,
      getToken: async () => {
        throw new Error("not loaded");
      },
    });
    await assert.rejects(client.fetch("/me"), TokenRefreshError);
    assert.equal(api.state.hits.length, 0);
  });

  test("a later rotation gets its own refresh instead of reusing the old refreshed token", async () => {
    const source = clerkLikeGetToken({ delay: 0 });
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    assert.equal((await client.fetch("/a")).status, 200);
    source.n = 2; // a minute later Clerk serves tok-2 by itself ...
    api.reset("tok-3"); // ... which the server already refuses
    assert.equal((await client.fetch("/b")).status, 200);
    assert.deepEqual(api.state.hits.map((h) => h.token), ["tok-2", "tok-3"]);
    assert.equal(source.refreshes, 2);
  });
});

describe("AbortSignal", () => {
  test("aborting during the refresh rejects with AbortError and sends nothing more", async () => {
    const source = clerkLikeGetToken({ delay: 200 });
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const controller = new AbortController();
    api.state.onHit = (n) => n === 1 && setTimeout(() => controller.abort(), 50);
    const aborted = client.fetch("/me", { signal: controller.signal });
    const other = client.fetch("/other"); // shares the refresh and must not be hurt by the abort
    await assert.rejects(aborted, { name: "AbortError" });
    assert.equal((await other).status, 200);
    assert.equal(source.refreshes, 1);
    assert.deepEqual(
      api.state.hits.map((h) => `${h.path} ${h.token}`).sort(),
      ["/me tok-0", "/other tok-0", "/other tok-1"],
    );
  });

  test("aborting during the resend rejects with AbortError and does not retry again", async () => {
    const source = clerkLikeGetToken({ delay: 0 });
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    const controller = new AbortController();
    api.state.onHit = (n) => n === 2 && setTimeout(() => controller.abort(), 20);
    await assert.rejects(client.fetch("/slow?delay=2000", { signal: controller.signal }), {
      name: "AbortError",
    });
    await sleep(50);
    assert.deepEqual(api.state.hits.map((h) => h.token), ["tok-0", "tok-1"]);
  });

  test("an already aborted signal rejects before anything happens", async () => {
    const source = clerkLikeGetToken();
    const client = createApiClient({ baseUrl: api.url, getToken: source.getToken });
    await assert.rejects(client.fetch("/me", { signal: AbortSignal.abort() }), { name: "AbortError" });
    assert.equal(source.calls.length, 0);
    assert.equal(api.state.hits.length, 0);
  });
});

describe("JSON helpers and ApiError", () => {
  test("a problem+json 401 becomes an ApiError carrying status, code, title, detail and type", async () => {
    api.reset();
    const client = createApiClient({ baseUrl: api.url, getToken: clerkLikeGetToken().getToken });
    const error = await client.getJson("/me").then(
      () => assert.fail("expected ApiError"),
      (e) => e,
    );
    assert.ok(error instanceof ApiError);
    assert.equal(error.name, "ApiError");
    assert.equal(error.status, 401);
    assert.equal(error.code, "token-expired");
    assert.equal(error.title, "Unauthorized");
    assert.equal(error.detail, "The session token has expired.");
    assert.equal(error.type, PROBLEM.type);
    assert.deepEqual(error.body, PROBLEM);
    assert.match(error.message, /401 Unauthorized \(token-expired\)/);
  });

  test("a 503 ApiError keeps the response headers (Retry-After)", async () => {
    const client = createApiClient({ baseUrl: api.url, getToken: clerkLikeGetToken().getToken });
    const error = await client.postJson("/unavailable", { a: 1 }).catch((e) => e);
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "database-unavailable");
    assert.equal(error.response.headers.get("retry-after"), "2");
  });

  test("postJson sends JSON with its content type; 204 resolves to undefined", async () => {
    const client = createApiClient({ baseUrl: api.url, getToken: clerkLikeGetToken().getToken });
    const created = await client.postJson("/items", { name: "x" });
    assert.deepEqual(created, { ok: true, method: "POST", path: "/items", body: '{"name":"x"}' });
    assert.equal(api.state.hits.at(-1).type, "application/json");
    assert.equal(await client.deleteJson("/items/1/empty"), undefined);
    assert.equal((await client.patchJson("/items/1", { a: 1 })).method, "PATCH");
    assert.equal((await client.putJson("/items/1")).method, "PUT");
  });

  test("non-JSON error bodies are kept as text", async () => {
    const client = createApiClient({
      baseUrl: api.url,
      getToken: () => "t",
      fetch: async () => new Response("upstream exploded", { status: 502, statusText: "Bad Gateway" }),
    });
    const error = await client.getJson("/x").catch((e) => e);
    assert.equal(error.status, 502);
    assert.equal(error.code, undefined);
    assert.equal(error.title, "Bad Gateway");
    assert.equal(error.body, "upstream exploded");
  });

  test("createApiClient validates its options", () => {
    assert.throws(() => createApiClient({ getToken: () => null }), TypeError);
    assert.throws(() => createApiClient({ baseUrl: api.url }), TypeError);
  });
});
