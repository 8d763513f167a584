// @ts-check
/**
 * The development demo: sign in as a chosen user, call /me through the real browser client, expire the token
 * and watch the client refresh once and retry once.
 *
 * `getToken` mimics Clerk's: it returns the cached token, and asks for a new one (here `POST /dev/token`) only
 * when the cache is empty or the caller passes `skipCache`. "Expire token" puts an already expired token into
 * that cache, which is what a real app meets when a tab wakes up after a minute.
 *
 * `?auto=1&sub=...&email=...&first_name=...&last_name=...` runs sign in → /me → expire → /me by itself and sets
 * `document.body.dataset.state` to "done" (or "error"), for the headless end-to-end test.
 */
import { ApiError, createApiClient } from "/demo/api-client.js";

const USER_FIELDS = ["id", "clerk_id", "email", "first_name", "last_name", "image_url"];

/** @type {{ profile: Record<string, string> | null, token: string | null, refreshes: number }} */
const session = { profile: null, token: null, refreshes: 0 };

/** Statuses of the attempts the client makes for the call in progress (its fetch is wrapped to see them). */
/** @type {string[]} */
let attempts = [];

/** @param {string} id @returns {HTMLElement} */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

/** @param {string} text @param {"ok" | "retry" | "fail"} [kind] */
function log(text, kind = "ok") {
  const item = document.createElement("li");
  item.textContent = text;
  item.className = kind;
  byId("log").append(item);
  console.log(`[demo] ${text}`);
}

/** @param {boolean} expired @returns {Promise<string>} */
async function mintToken(expired) {
  if (!session.profile) throw new Error("not signed in");
  const response = await fetch("/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ ...session.profile, expired }),
  });
  if (!response.ok) throw await ApiError.fromResponse(response);
  const body = await response.json();
  return body.token;
}

/**
 * Stand-in for Clerk's `useAuth().getToken`.
 * @param {{ skipCache?: boolean }} [options]
 * @returns {Promise<string | null>}
 */
async function getToken(options = {}) {
  if (!session.profile) return null;
  if (options.skipCache) {
    session.refreshes += 1;
    byId("refresh-count").textContent = String(session.refreshes);
    session.token = await mintToken(false);
    log("getToken({ skipCache: true }) -> fresh token from POST /dev/token", "retry");
  } else if (session.token === null) {
    session.token = await mintToken(false);
  }
  return session.token;
}

/**
 * The problem document's `code`, else the one in `WWW-Authenticate`, without consuming the body.
 * @param {Response} response
 * @returns {Promise<string>}
 */
async function problemCode(response) {
  try {
    const body = await response.clone().json();
    if (body && typeof body.code === "string") return body.code;
  } catch {
    // not JSON: fall through to the header
  }
  const challenge = response.headers.get("www-authenticate") ?? "";
  return /error_description="([^"]*)"/.exec(challenge)?.[1] ?? "";
}

/** @type {typeof fetch} */
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  const code = response.ok ? "" : await problemCode(response);
  attempts.push(code ? `${response.status} ${code}` : String(response.status));
  return response;
};

const api = createApiClient({ baseUrl: window.location.origin, getToken, fetch: recordingFetch });

/** @param {Record<string, unknown>} user */
function showUser(user) {
  for (const field of USER_FIELDS) {
    const value = user[field];
    byId(`user-${field.replaceAll("_", "-")}`).textContent =
      value === undefined ? "(not returned)" : value === null ? "null" : String(value);
  }
  byId("user-json").textContent = JSON.stringify(user, null, 2);
}

/** `GET /me -> 401 token-expired, refreshed, retried -> 200` @param {boolean} refreshed */
function describe(refreshed) {
  const [first, ...rest] = attempts;
  let text = `GET /me -> ${first ?? "no response"}`;
  if (refreshed) text += ", refreshed";
  if (rest.length) text += `, retried -> ${rest.join(" -> ")}`;
  else if (refreshed) text += ", not retried";
  return text;
}

/** @returns {Promise<Record<string, unknown>>} */
async function callMe() {
  attempts = [];
  const before = session.refreshes;
  try {
    const user = await api.getJson("/me");
    log(describe(session.refreshes > before), session.refreshes > before ? "retry" : "ok");
    showUser(user);
    return user;
  } catch (error) {
    log(`${describe(session.refreshes > before)} (failed: ${describeError(error)})`, "fail");
    throw error;
  }
}

/** @param {unknown} error */
function describeError(error) {
  if (error instanceof ApiError) return `${error.status} ${error.code ?? error.title ?? ""}`.trim();
  return error instanceof Error ? error.message : String(error);
}

/** @param {Record<string, string>} profile */
async function signIn(profile) {
  session.profile = profile;
  session.token = null;
  session.token = await mintToken(false);
  byId("session").textContent = `signed in as ${profile.sub}`;
  for (const id of ["call-me", "expire"]) /** @type {HTMLButtonElement} */ (byId(id)).disabled = false;
  log(`Signed in as ${profile.sub} (token from POST /dev/token, lives 60 s)`);
}

async function expireToken() {
  session.token = await mintToken(true);
  log("Cached token replaced by an expired one: the next call gets 401 token-expired");
}

/** The form's non-empty fields, named as `POST /dev/token` expects. */
function formProfile() {
  const form = /** @type {HTMLFormElement} */ (byId("signin-form"));
  /** @type {Record<string, string>} */
  const profile = {};
  for (const [name, value] of new FormData(form)) {
    const text = String(value).trim();
    if (text) profile[name] = text;
  }
  return profile;
}

/** Run a button's action, keeping the page usable when it fails. @param {() => Promise<unknown>} action */
async function guarded(action) {
  byId("error").hidden = true;
  try {
    await action();
  } catch (error) {
    const message = describeError(error);
    byId("error").textContent = message;
    byId("error").hidden = false;
    if (!(error instanceof ApiError)) log(`error: ${message}`, "fail");
  }
}

/** @param {URLSearchParams} params */
async function auto(params) {
  document.body.dataset.state = "running";
  const fields = { sub: "sub", email: "email", first_name: "first-name", last_name: "last-name" };
  for (const [name, id] of Object.entries(fields)) {
    const value = params.get(name);
    if (value !== null) /** @type {HTMLInputElement} */ (byId(id)).value = value;
  }
  try {
    await signIn(formProfile());
    await callMe();
    await expireToken();
    await callMe();
    document.body.dataset.state = "done";
  } catch (error) {
    byId("error").textContent = describeError(error);
    byId("error").hidden = false;
    document.body.dataset.state = "error";
  }
}

byId("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(() => signIn(formProfile()));
});
byId("call-me").addEventListener("click", () => guarded(callMe));
byId("expire").addEventListener("click", () => guarded(expireToken));

const params = new URLSearchParams(window.location.search);
if (params.get("auto") === "1") auto(params);
else document.body.dataset.state = "ready";
