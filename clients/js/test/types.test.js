// Keeps src/index.d.ts in step with src/index.js without a TypeScript toolchain: every runtime export and
// every client method must be declared, and nothing may be declared that does not exist.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import * as api from "../src/index.js";

const dts = await readFile(new URL("../src/index.d.ts", import.meta.url), "utf8");

function block(name) {
  const start = dts.indexOf(`export interface ${name} {`);
  assert.notEqual(start, -1, `interface ${name} is declared`);
  return dts.slice(start, dts.indexOf("\n}", start));
}

test("every runtime export is declared, and every declared value exists", () => {
  const declared = [...dts.matchAll(/^export declare (?:function|class) (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(api).sort());
});

test("the ApiClient interface lists exactly the client's methods", () => {
  const client = api.createApiClient({ baseUrl: "http://127.0.0.1:1", getToken: () => null });
  const declared = [...block("ApiClient").matchAll(/^ {2}(\w+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(client).sort());
});

test("ApiError's declared fields are the ones it sets", async () => {
  const response = new Response('{"code":"x","title":"T","detail":"D","type":"t","instance":"/i"}', {
    status: 409,
    headers: { "content-type": "application/problem+json" },
  });
  const error = await api.ApiError.fromResponse(response);
  const declaredFields = [...dts.slice(dts.indexOf("export declare class ApiError")).matchAll(/readonly (\w+)/g)]
    .map((m) => m[1])
    .slice(0, 10);
  for (const field of declaredFields) assert.ok(field in error, `ApiError has ${field}`);
  assert.deepEqual(
    { code: error.code, title: error.title, detail: error.detail, type: error.type, instance: error.instance },
    { code: "x", title: "T", detail: "D", type: "t", instance: "/i" },
  );
});

test("the JavaScript parses as an ES module", async () => {
  const { spawnSync } = await import("node:child_process");
  const result = spawnSync(process.execPath, ["--check", new URL("../src/index.js", import.meta.url).pathname]);
  assert.equal(result.status, 0, String(result.stderr));
});
