/**
 * Fetch client for a clerk-sync API: attaches the Clerk session token and, on a 401, refreshes it once
 * (shared by concurrent requests) and resends once.
 */

/** The subset of Clerk's `GetTokenOptions` this client uses; Clerk's own `getToken` is assignable. */
export interface GetTokenOptions {
  /** `true` forces Clerk to mint a new token instead of serving its cached one. */
  skipCache?: boolean;
}

/** The shape of Clerk's `useAuth().getToken` / `Clerk.session.getToken`. `null` means signed out. */
export type GetToken = (options?: GetTokenOptions) => Promise<string | null> | string | null;

export interface ApiClientOptions {
  /** Origin and path prefix of the API, e.g. `"https://api.example.com/v1"`. Relative values resolve against
   * `location.href` in a browser. The token is only ever sent to this origin. */
  baseUrl: string | URL;
  /** Called with no argument before each request, and with `{ skipCache: true }` after a 401. */
  getToken: GetToken;
  /** Defaults to `globalThis.fetch`; it is called with `globalThis` as `this`. */
  fetch?: typeof globalThis.fetch;
}

export interface ApiClient {
  /**
   * `fetch` with the session token attached. `path` is joined onto `baseUrl`'s path; an absolute URL must
   * have `baseUrl`'s origin. Resolves to the final `Response` (a second 401 included). Rejects with the
   * signal's reason (an `AbortError`) when `init.signal` aborts, including during the refresh, and with
   * `TokenRefreshError` when `getToken` throws.
   */
  fetch(path: string | URL, init?: RequestInit): Promise<Response>;
  /** `fetch`, then parse the JSON body; a non-2xx status throws `ApiError`; 204/205 resolve to `undefined`. */
  json<T = unknown>(path: string | URL, init?: RequestInit): Promise<T>;
  getJson<T = unknown>(path: string | URL, init?: RequestInit): Promise<T>;
  deleteJson<T = unknown>(path: string | URL, init?: RequestInit): Promise<T>;
  /** Sends `JSON.stringify(body)` with `content-type: application/json` unless `body` is `undefined`. */
  postJson<T = unknown>(path: string | URL, body?: unknown, init?: RequestInit): Promise<T>;
  putJson<T = unknown>(path: string | URL, body?: unknown, init?: RequestInit): Promise<T>;
  patchJson<T = unknown>(path: string | URL, body?: unknown, init?: RequestInit): Promise<T>;
}

export interface ApiErrorFields {
  status: number;
  code?: string;
  title?: string;
  detail?: string;
  type?: string;
  instance?: string;
  body?: unknown;
  response?: Response;
}

/** A non-2xx answer, read from the API's `application/problem+json` (RFC 9457) body when it has one. */
export declare class ApiError extends Error {
  constructor(message: string, fields: ApiErrorFields);
  /** Build the error from a failed response; consumes its body. */
  static fromResponse(response: Response): Promise<ApiError>;
  readonly name: "ApiError";
  readonly status: number;
  /** clerk-sync's stable code, e.g. `"token-expired"`, `"user-deleted"`, `"database-unavailable"`. */
  readonly code: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly type: string | undefined;
  readonly instance: string | undefined;
  /** The parsed JSON body, or the text when it was not JSON. */
  readonly body: unknown;
  /** The response (body already consumed); its headers carry e.g. `Retry-After` on a 503. */
  readonly response: Response | undefined;
}

/** `getToken` threw: there is no token to send. `cause` holds the original error. */
export declare class TokenRefreshError extends Error {
  constructor(message: string, options?: { cause?: unknown });
  readonly name: "TokenRefreshError";
  readonly code: "token-refresh-failed";
}

export declare function createApiClient(options: ApiClientOptions): ApiClient;
