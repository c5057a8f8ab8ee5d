// A typed Roster client in a few lines: types generated from openapi.yaml by openapi-typescript,
// requests made by openapi-fetch. Copy this file and `npx openapi-typescript openapi.yaml -o
// roster-api.d.ts` into your frontend; every path, body, parameter and response below is checked
// by the compiler against Roster's contract.
//
// Runs against a fresh Roster: ROSTER_URL=http://127.0.0.1:8080 node build/roster-client.js
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./roster-api.js";

type Problem = components["schemas"]["Problem"];
type User = components["schemas"]["UserResponse"];

const baseUrl = process.env.ROSTER_URL ?? "http://127.0.0.1:8080";
const password = "correct horse battery staple";
const roster = createClient<paths>({ baseUrl });

/** Every error is a problem document; its `code` is stable, so code can branch on it. */
function fail(what: string, problem: Problem | undefined, response: Response): never {
  throw new Error(`${what}: HTTP ${response.status} ${problem?.code ?? "?"}: ${problem?.detail ?? ""}`);
}

/** The RFC 6238 code of a base32 TOTP secret now (SHA-1, 6 digits, 30-second steps). */
function totp(secret: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bits = [...secret.replace(/=+$/, "")].map((c) => alphabet.indexOf(c).toString(2).padStart(5, "0")).join("");
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac.readUInt8(mac.length - 1) & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

// 1. The first admin, once.
const status = await roster.GET("/api/v1/setup");
if (!status.data) fail("setup status", status.error, status.response);
if (status.data.needs_setup) {
  const setup = await roster.POST("/api/v1/setup", {
    body: { username: "admin", email: "admin@example.org", first_name: "Ada", last_name: "Admin", password },
  });
  if (setup.error) fail("setup", setup.error, setup.response);
}

// 2. Sign in; every later request carries the access token. A sign-in answers tokens, or a
// challenge to meet first: an admin's first sign-in asks it to enrol a second factor
// (`mfa_enrollment`, while the setting `mfa.required_for_admins` is on, as by default).
const login = await roster.POST("/api/v1/auth/login", { body: { login: "admin", password } });
if (!login.data) fail("sign-in", login.error, login.response);
let signedIn = login.data;
if (!("access_token" in signedIn) && signedIn.challenge === "mfa_enrollment") {
  const challenge_token = signedIn.challenge_token;
  const started = await roster.POST("/api/v1/auth/challenge/mfa-enrollment", { body: { challenge_token } });
  if (!started.data) fail("enrolment", started.error, started.response);
  // A console shows `qr_png_base64` as an image (or `otpauth_uri` as a link) and asks for the
  // code the authenticator app then shows; here the code is computed as the app would.
  const code = totp(started.data.secret);
  const confirmed = await roster.POST("/api/v1/auth/challenge/mfa-enrollment/confirm", { body: { challenge_token, code } });
  if (!confirmed.data) fail("enrolment", confirmed.error, confirmed.response);
  console.log(`recovery codes to keep: ${confirmed.data.recovery_codes.length}`);
  signedIn = confirmed.data.sign_in;
}
if (!("access_token" in signedIn)) fail(`sign-in: challenge ${signedIn.challenge}`, undefined, login.response);
const accessToken = signedIn.access_token;
const bearer: Middleware = {
  onRequest({ request }) {
    request.headers.set("Authorization", `Bearer ${accessToken}`);
    return request;
  },
};
roster.use(bearer);

// 3. Create accounts; a second account with a taken username answers 409 `username_taken`.
const people = [
  { username: "ana.lima", first_name: "Ana", last_name: "Lima" },
  { username: "andre.silva", first_name: "André", last_name: "Silva" },
];
const created: User[] = [];
for (const p of people) {
  const r = await roster.POST("/api/v1/users", { body: { ...p, email: `${p.username}@example.org` } });
  if (!r.data) fail(`create ${p.username}`, r.error, r.response);
  created.push(r.data);
}
const again = await roster.POST("/api/v1/users", {
  body: { username: "ana.lima", email: "other@example.org", first_name: "Ana", last_name: "Again" },
});
if (again.error?.code !== "username_taken") throw new Error(`expected username_taken, got ${again.response.status}`);

// 4. List: everyone whose username, email or name starts with "an", following the cursor.
const found: User[] = [];
let cursor: string | undefined;
do {
  const page = await roster.GET("/api/v1/users", { params: { query: { q: "an", limit: 1, cursor } } });
  if (!page.data) fail("list", page.error, page.response);
  found.push(...page.data.items);
  cursor = page.data.next_cursor ?? undefined;
} while (cursor);

for (const user of found) console.log(`${user.username}\t${user.status}\t${user.roles.join(",")}`);
const expected = created.map((u) => u.id).sort();
const listed = found.map((u) => u.id).filter((id) => expected.includes(id)).sort();
if (JSON.stringify(listed) !== JSON.stringify(expected)) throw new Error("the created accounts are not all listed");
// 5. An API token for scripts (shown once), for the checks after this one (ROSTER_TOKEN_FILE).
const tokenFile = process.env.ROSTER_TOKEN_FILE;
if (tokenFile) {
  const apiToken = await roster.POST("/api/v1/me/api-tokens", { body: { name: "client checks" } });
  if (!apiToken.data) fail("API token", apiToken.error, apiToken.response);
  writeFileSync(tokenFile, apiToken.data.token, { mode: 0o600 });
}
console.log("typescript client: ok");
