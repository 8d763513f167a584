// @ts-check
/**
 * Fetch client for a clerk-sync API, for the browser and Node 20+. Zero dependencies.
 *
 * Clerk session tokens live 60 seconds, so a token taken from Clerk's cache can be refused a moment later.
 * Asking Clerk for a fresh token before every request would be wasteful; asking only after a 401 costs one
 * extra round trip now and then. So each request:
 *
 * 1. sends `Authorization: Bearer <getToken()>`;
 * 2. on 401, asks `getToken({ skipCache: true })` once — concurrent 401s for the same stale token share that
 *    one call — and resends once with the new token;
 * 3. returns whatever the resend answers, a second 401 included. There is no loop.
 *
 * A refresh that yields `null` (signed out) or the same token returns the 401 unchanged; a refresh that throws
 * rejects with `TokenRefreshError`. Bodies that cannot be sent twice (`ReadableStream`, async iterables) are
 * not resent. The token is never sent to another origin than `baseUrl`'s.
 */

const ABSOLUTE_URL = /^[a-z][a-z\d+\-.]*:/i;

/** Thrown by the JSON helpers when the API answers with a non-2xx status; mirrors RFC 9457 problem+json. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{ status: number, code?: string, title?: string, detail?: string, type?: string,
   *           instance?: string, body?: unknown, response?: Response }} fields
   */
  constructor(message, fields) {
    super(message);
    this.name = "ApiError";
    this.status = fields.status;
    this.code = fields.code;
    this.title = fields.title;
    this.detail = fields.detail;
    this.type = fields.type;
    this.instance = fields.instance;
    this.body = fields.body;
    this.response = fields.response;
  }

  /**
   * Build the error from a failed response, reading its body. clerk-sync sends `application/problem+json`
   * with a stable `code`; other JSON (FastAPI's `{"detail": ...}`) and plain text are kept in `body`.
   * @param {Response} response
   * @returns {Promise<ApiError>}
   */
  static async fromResponse(response) {
    const text = await response.text().catch(() => "");
    /** @type {unknown} */
    let body = text || undefined;
    if (text && /json/i.test(response.headers.get("content-type") ?? "")) {
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON after all: keep the text
      }
    }
    /** @type {Record<string, unknown>} */
    const problem = body !== null && typeof body === "object" ? /** @type {any} */ (body) : {};
    const str = (/** @type {unknown} */ value) => (typeof value === "string" ? value : undefined);
    const code = str(problem.code);
    const title = str(problem.title) ?? (response.statusText || undefined);
    const detail = str(problem.detail);
    const message =
      `${response.status}${title ? ` ${title}` : ""}${code ? ` (${code})` : ""}${detail ? `: ${detail}` : ""}`;
    return new ApiError(message, {
      status: response.status,
      code,
      title,
      detail,
      type: str(problem.type),
      instance: str(problem.instance),
      body,
      response,
    });
  }
}

/** Thrown when `getToken` throws: there is no token to send, and the caller should know why. */
export class TokenRefreshError extends Error {
  /**
   * @param {string} message
   * @param {{ cause?: unknown }} [options]
   */
  constructor(message, options) {
    super(message, options);
    this.name = "TokenRefreshError";
    /** Same code as the Python client's `TokenRefreshError`. */
    this.code = "token-refresh-failed";
  }
}

/**
 * @param {import("./index.js").ApiClientOptions} options
 * @returns {import("./index.js").ApiClient}
 */
export function createApiClient(options) {
  const { baseUrl, getToken } = options ?? {};
  if (baseUrl === undefined || baseUrl === null || baseUrl === "") {
    throw new TypeError("createApiClient: baseUrl is required");
  }
  if (typeof getToken !== "function") {
    throw new TypeError("createApiClient: getToken must be a function (Clerk's useAuth().getToken)");
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== "function") {
    throw new TypeError("createApiClient: no fetch available; pass options.fetch");
  }
  // Called with globalThis as `this`: window.fetch throws "Illegal invocation" when called on another object.
  /** @type {(input: string, init: RequestInit) => Promise<Response>} */
  const send = (input, init) => fetchImpl.call(globalThis, input, init);
  const base = new URL(String(baseUrl), /** @type {any} */ (globalThis).location?.href);
  const basePath = base.pathname.replace(/\/+$/, "");

  // Single flight. `inflight` holds the running refresh per stale token; `generation` counts finished
  // refreshes, so a 401 that arrives just after a refresh (for a token taken before it) reuses its result
  // instead of starting another, while a 401 for a token taken later still gets a refresh of its own.
  /** @type {Map<string | null, Promise<string | null>>} */
  const inflight = new Map();
  let generation = 0;
  /** @type {{ stale: string | null, ok: boolean, token: string | null, promise: Promise<string | null> } | null} */
  let last = null;

  /**
   * @param {string | null} stale
   * @param {number} seenGeneration
   * @returns {Promise<string | null>}
   */
  function refreshOnce(stale, seenGeneration) {
    const running = inflight.get(stale);
    if (running) return running;
    if (last && generation !== seenGeneration && !(last.ok && last.token === stale)) return last.promise;
    const promise = Promise.resolve()
      .then(() => getToken({ skipCache: true }))
      .then(
        (token) => token ?? null,
        (cause) => {
          throw new TokenRefreshError("getToken({ skipCache: true }) failed", { cause });
        },
      );
    inflight.set(stale, promise);
    // Attached before any caller awaits `promise`, so the bookkeeping is done when they resume.
    promise.then(
      (token) => settle({ stale, ok: true, token, promise }),
      () => settle({ stale, ok: false, token: null, promise }),
    );
    return promise;
  }

  /** @param {{ stale: string | null, ok: boolean, token: string | null, promise: Promise<string | null> }} outcome */
  function settle(outcome) {
    inflight.delete(outcome.stale);
    last = outcome;
    generation += 1;
  }

  /** @returns {Promise<string | null>} */
  async function currentToken() {
    try {
      return (await getToken()) ?? null;
    } catch (cause) {
      throw new TokenRefreshError("getToken() failed", { cause });
    }
  }

  /**
   * @param {string | URL} path
   * @returns {string}
   */
  function resolve(path) {
    const raw = String(path);
    if (ABSOLUTE_URL.test(raw)) {
      const url = new URL(raw);
      if (url.origin !== base.origin) {
        throw new TypeError(`refusing to send the session token to ${url.origin}; baseUrl is ${base.origin}`);
      }
      return url.href;
    }
    // Join onto baseUrl's path ("/api" + "/me" = "/api/me"); leading slashes are collapsed so "//host" stays
    // a path on our origin rather than becoming a protocol-relative URL.
    return new URL(`${basePath}/${raw.replace(/^\/+/, "")}`, base.origin).href;
  }

  /**
   * @param {string | URL} path
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async function apiFetch(path, init = {}) {
    const url = resolve(path);
    const signal = init.signal ?? undefined;
    throwIfAborted(signal);
    const seenGeneration = generation;
    const token = await untilAborted(currentToken(), signal);
    const first = await send(url, authorized(init, token));
    if (first.status !== 401) return first;

    let fresh;
    try {
      fresh = await untilAborted(refreshOnce(token, seenGeneration), signal);
    } catch (error) {
      discard(first);
      throw error;
    }
    if (fresh === null || fresh === token || !isReplayable(init.body)) return first;
    discard(first);
    throwIfAborted(signal);
    return send(url, authorized(init, fresh));
  }

  /**
   * @param {string | URL} path
   * @param {RequestInit} [init]
   */
  async function json(path, init = {}) {
    const headers = new Headers(init.headers);
    if (!headers.has("accept")) headers.set("accept", "application/json, application/problem+json");
    const response = await apiFetch(path, { ...init, headers });
    if (!response.ok) throw await ApiError.fromResponse(response);
    if (response.status === 204 || response.status === 205) return undefined;
    const text = await response.text();
    return text ? JSON.parse(text) : undefined;
  }

  /**
   * @param {string} method
   * @returns {(path: string | URL, body?: unknown, init?: RequestInit) => Promise<any>}
   */
  const withBody = (method) => (path, body, init = {}) => {
    if (body === undefined) return json(path, { ...init, method });
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return json(path, { ...init, method, headers, body: JSON.stringify(body) });
  };

  return {
    fetch: apiFetch,
    json,
    getJson: (path, init = {}) => json(path, { ...init, method: "GET" }),
    deleteJson: (path, init = {}) => json(path, { ...init, method: "DELETE" }),
    postJson: withBody("POST"),
    putJson: withBody("PUT"),
    patchJson: withBody("PATCH"),
  };
}

/**
 * @param {RequestInit} init
 * @param {string | null} token
 * @returns {RequestInit}
 */
function authorized(init, token) {
  const headers = new Headers(init.headers);
  // Without a token, leave an Authorization header the caller set themselves.
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return { ...init, headers };
}

/**
 * Bodies fetch can serialise again from the same value. A ReadableStream or async iterable is consumed by
 * the first send.
 * @param {unknown} body
 */
function isReplayable(body) {
  if (body === undefined || body === null || typeof body === "string") return true;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return true;
  for (const name of ["Blob", "FormData", "URLSearchParams"]) {
    const ctor = /** @type {any} */ (globalThis)[name];
    if (typeof ctor === "function" && body instanceof ctor) return true;
  }
  return false;
}

/** Release the connection held by a response we will not hand out. @param {Response} response */
function discard(response) {
  response.body?.cancel().catch(() => {});
}

/** @param {AbortSignal | undefined} signal */
function abortReason(signal) {
  return signal?.reason ?? new DOMException("This operation was aborted", "AbortError");
}

/** @param {AbortSignal | undefined} signal */
function throwIfAborted(signal) {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * Wait for `promise` unless `signal` aborts first. The promise itself keeps running: a refresh is shared with
 * other requests, so one caller giving up must not cancel it for the rest.
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<T>}
 */
function untilAborted(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
