// @ts-check
// The notes page: every call goes through the clerk-sync client, which sends the session token and, after a 401,
// fetches a fresh one once and retries once (Clerk's tokens live 60 seconds).
import { ApiError, createApiClient } from "@clerk-sync/client";

const params = new URLSearchParams(location.search);
// The notes API; another origin needs CORS on the API (Authorization header, JSON bodies).
const baseUrl = params.get("api") ?? location.origin;

/**
 * Clerk's own token when clerk-js is loaded (window.Clerk, from your publishable key); otherwise a development
 * token from the fragment (`#token=$(clerk-sync dev-token --sub user_1)`), which never reaches a server log.
 * @param {{ skipCache?: boolean }} [options]
 * @returns {Promise<string | null>}
 */
async function getToken(options) {
  const clerk = /** @type {any} */ (window).Clerk;
  if (clerk?.session) return clerk.session.getToken(options);
  return new URLSearchParams(location.hash.slice(1)).get("token");
}

const api = createApiClient({ baseUrl, getToken });
const app = /** @type {HTMLElement} */ (document.getElementById("app"));
const list = /** @type {HTMLUListElement} */ (document.getElementById("notes"));
const status = /** @type {HTMLElement} */ (document.getElementById("status"));
const form = /** @type {HTMLFormElement} */ (document.getElementById("new-note"));

/** @param {unknown} error */
function show(error) {
  app.dataset.state = "error";
  // clerk-sync's stable codes: token-expired, user-deleted, session-token-missing, ...
  status.textContent = error instanceof ApiError ? `${error.status} ${error.code ?? ""}`.trim() : String(error);
  if (!(error instanceof ApiError)) throw error;
}

/** @param {{ id: number, title: string, body: string }} note */
function row(note) {
  const item = document.createElement("li");
  item.dataset.id = String(note.id);
  const title = document.createElement("strong");
  title.textContent = note.title; // textContent, never innerHTML: notes are user input
  const remove = document.createElement("button");
  remove.textContent = "Delete";
  remove.addEventListener("click", () => api.deleteJson(`/notes/${note.id}`).then(refresh, show));
  item.append(title, " ", note.body, " ", remove);
  return item;
}

async function refresh() {
  const notes = await api.getJson("/notes");
  list.replaceChildren(...notes.map(row));
  status.textContent = `${notes.length} note(s)`;
  app.dataset.state = "ready";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(form);
  api.postJson("/notes", { title: data.get("title"), body: data.get("body") ?? "" }).then(() => {
    form.reset();
    return refresh();
  }).then(undefined, show);
});

refresh().catch(show);
