// A real Better Auth server for the JWKS tests: the `jwt` plugin with its defaults (EdDSA /
// Ed25519 keys, 15-minute tokens, iss = aud = the base URL), email + password sign-in, an
// in-memory SQLite database. It listens on a free loopback port, signs up the users named on
// the command line, and prints ONE line of JSON on stdout:
//
//   {"base_url": "http://127.0.0.1:PORT", "jwks_url": ".../api/auth/jwks",
//    "users": {"alice": {"id": "...", "email": "...", "password": "...", "token": "<JWT>"}}}
//
// then serves until it is killed. Usage: node server.mjs alice bob

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";

import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";

const names = process.argv.slice(2);
let handle = (_request, response) => {
  response.statusCode = 503;
  response.end("starting");
};
const server = createServer((request, response) => handle(request, response));
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const baseURL = `http://127.0.0.1:${server.address().port}`;

const options = {
  baseURL,
  secret: randomBytes(32).toString("hex"),
  database: new Database(":memory:"),
  emailAndPassword: { enabled: true },
  plugins: [jwt()],
  telemetry: { enabled: false },
};
const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);
handle = toNodeHandler(auth);

const users = {};
for (const name of names) {
  const email = `${name}@example.test`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  // Sign up as a frontend would; the session cookie it sets is what `getToken` needs.
  const { headers, response } = await auth.api.signUpEmail({
    body: { email, password, name },
    returnHeaders: true,
  });
  const cookie = headers
    .getSetCookie()
    .map((value) => value.split(";")[0])
    .join("; ");
  const { token } = await auth.api.getToken({ headers: new Headers({ cookie }) });
  users[name] = { id: response.user.id, email, password, token };
}

process.stdout.write(
  `${JSON.stringify({ base_url: baseURL, jwks_url: `${baseURL}/api/auth/jwks`, users })}\n`,
);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
