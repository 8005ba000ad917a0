/**
 * OWASP API7:2023 — Server Side Request Forgery.
 * Webhook endpoint URLs are the one place a tenant makes the server send requests. They must be https, carry no
 * credentials, and not point at private, loopback, link-local, CGNAT or internal addresses/names, in any spelling
 * the URL parser accepts (decimal, hex, octal, IPv4-mapped IPv6). Refusals are 400 `validation_error` on `url`.
 * With APP_ENV=test (as in development) http://127.0.0.1 receivers are allowed; production refuses them.
 * Outside development and test (issue #11 finding 12, issue #12 item 8): no IP-literal host at all (Workers cannot
 * fetch a bare IP), port 443 only; everywhere: no well-known loopback alias (*.nip.io, localtest.me, …) and never the
 * API's own origin (in development and test, a loopback receiver on the API's own port).
 */

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { checkWebhookUrl } from "../../src/lib/webhook-url";
import { call, callDirect, json } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";
import { bodyOf, expectProblem } from "./helpers";

/** Refused in every environment. */
const refusedEverywhere = [
  "http://example.com/hook",
  "http://10.0.0.1/hook",
  "https://10.0.0.1/hook",
  "https://10.255.255.255/",
  "https://172.16.0.1/",
  "https://172.31.255.254/",
  "https://192.168.1.1/",
  "https://169.254.169.254/latest/meta-data/",
  "https://100.64.0.1/",
  "https://100.127.255.254/",
  "https://0.0.0.0/",
  "https://224.0.0.1/",
  "https://[::]/",
  "https://[fc00::1]/",
  "https://[fd12:3456::1]/",
  "https://[fe80::1]/",
  "https://[::ffff:10.0.0.1]/",
  "https://[::ffff:169.254.169.254]/",
  "https://[::ffff:127.0.0.1]/", // IPv4-mapped loopback is not a loopback receiver anywhere
  "https://metadata.google.internal/computeMetadata/v1/",
  "https://db.internal/",
  "https://printer.local/",
  "https://router.lan/",
  "https://intranet/",
  "https://167772161/", // 10.0.0.1 as a decimal integer
  "https://0xa9fea9fe/", // 169.254.169.254 in hex
  "https://0300.0250.0.1/", // 192.168.0.1 in octal
  "https://user:pass@hooks.example.com/",
  "https://token@hooks.example.com/",
  "ftp://hooks.example.com/",
  "file:///etc/passwd",
  "javascript:alert(1)",
  "not a url",
];

/** Loopback in all its spellings: allowed in development and tests (local receivers), refused in production. */
const loopback = [
  "http://127.0.0.1:8787/hook",
  "https://127.0.0.1/",
  "http://127.1.2.3/",
  "http://localhost/",
  "http://[::1]/",
  "http://2130706433/", // 127.0.0.1 as a decimal integer
  "https://0x7f000001/", // 127.0.0.1 in hex
  "http://0177.0.0.1/", // octal
  "http://127.1/",
];

/** The policies the route applies: production (its own origin api.edgepay.dev) and development (127.0.0.1:8787). */
const production = { development: false, selfOrigin: "https://api.edgepay.dev" };
const development = { development: true, selfOrigin: "http://edgepay.test" };

/** Well-known public names that resolve to loopback (or to any IP written in the name): refused everywhere. */
const loopbackAliases = [
  "https://127.0.0.1.nip.io/hook",
  "https://10-0-0-1.nip.io/hook",
  "https://app.sslip.io/hook",
  "https://localtest.me/hook",
  "https://x.localtest.me./hook",
  "https://lvh.me/hook",
  "https://a.b.lvh.me/hook",
  "https://vcap.me/",
  "https://localhost.direct/",
];

/** Refused outside development and test only: IP-literal hosts, even public ones, and ports other than 443. */
const refusedInProduction = [
  "https://93.184.216.34/hook",
  "https://1572395042/hook", // 93.184.216.34 as a decimal integer
  "https://hooks.example.com:8443/hook",
  "https://hooks.example.com:80/hook",
  "https://hooks.example.com:1/hook",
];

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

const create = (url: string, auth = t.auth) =>
  call("/v1/webhook_endpoints", json("POST", { url, events: ["payment.succeeded"] }, auth));

async function expectUrlRefused(res: Response, url: string) {
  const problem = await expectProblem(res, 400, "validation_error", url);
  expect(
    problem.errors?.map((e) => e.path),
    url,
  ).toEqual(["url"]);
}

describe("API7 — webhook URL policy through the API (APP_ENV=test)", () => {
  it("refuses private, internal, credentialed and non-https URLs with 400 on `url`, and stores none", async () => {
    for (const url of refusedEverywhere) await expectUrlRefused(await create(url), url);
    const list = await bodyOf<{ data: unknown[] }>(await call("/v1/webhook_endpoints", { headers: t.auth }));
    expect(list.data).toEqual([]);
  });

  it("accepts a public https URL (201)", async () => {
    const res = await create("https://hooks.example.com/edgepay?tenant=1");
    expect(res.status).toBe(201);
    expect((await bodyOf(res)).url).toBe("https://hooks.example.com/edgepay?tenant=1");
  });

  it("accepts loopback receivers in the test environment, like in development", async () => {
    for (const url of ["http://127.0.0.1:8787/hook", "http://localhost:8787/hook", "http://2130706433/hook"]) {
      expect((await create(url)).status, url).toBe(201);
    }
    // ...but only loopback: other private addresses stay refused over http and https.
    await expectUrlRefused(await create("http://192.168.0.10:8787/hook"), "http private");
  });
});

describe("API7 — production refuses loopback", () => {
  it("checkWebhookUrl without loopback refuses every spelling of it, and the rest", () => {
    for (const url of [...loopback, ...refusedEverywhere]) {
      expect(checkWebhookUrl(url, production).ok, url).toBe(false);
    }
    for (const url of loopback) expect(checkWebhookUrl(url, development).ok, `${url} (development)`).toBe(true);
    expect(checkWebhookUrl("https://hooks.example.com/x", production).ok).toBe(true);
  });

  it("a request under the production configuration is refused for a loopback receiver", async () => {
    // Production refuses NEON_LOCAL_ENDPOINT, so this request cannot reach the database: the key is resolved from
    // the isolate's auth cache, warmed by a first request through the same module, and the URL check comes first.
    expect((await callDirect("/v1/users", { headers: t.auth })).status).toBe(200);
    // Production also refuses the local mail stand-in (MAIL_LOCAL_ENDPOINT), as it refuses any local endpoint.
    const {
      NEON_LOCAL_ENDPOINT: _local,
      MAIL_LOCAL_ENDPOINT: _mail,
      ...rest
    } = env as unknown as Record<string, string>;
    const production = { ...rest, APP_ENV: "production" };
    for (const url of [
      "http://127.0.0.1:8787/hook",
      "https://127.0.0.1/hook",
      "http://localhost/hook",
      "https://93.184.216.34/hook",
      "https://hooks.example.com:8443/hook",
      "https://127.0.0.1.nip.io/hook",
    ]) {
      const ctx = createExecutionContext();
      const req = new Request("http://edgepay.test/v1/webhook_endpoints", {
        ...json("POST", { url, events: ["payment.succeeded"] }, t.auth),
      });
      const res = await worker.fetch(req as Request<unknown, IncomingRequestCfProperties>, production as never, ctx);
      await waitOnExecutionContext(ctx);
      await expectUrlRefused(res, url);
    }
  });
});

describe("API7 — host name forms", () => {
  // Found by this suite: a trailing dot ("localhost.", "x.internal.") once slipped past the name check.
  it("refuses internal names written with a trailing dot (localhost., *.internal., *.local.)", () => {
    for (const url of ["https://localhost./", "https://metadata.google.internal./", "https://printer.local./"]) {
      expect(checkWebhookUrl(url, production).ok, url).toBe(false);
    }
  });
});

describe("API7 — IP literals, ports, loopback aliases and the API itself", () => {
  it("outside development and test, refuses any IP-literal host (public too) and any port but 443", () => {
    for (const url of refusedInProduction) {
      expect(checkWebhookUrl(url, production).ok, url).toBe(false);
      expect(checkWebhookUrl(url, development).ok, `${url} (development)`).toBe(true);
    }
    // IPv6 literals were already refused everywhere (no public IPv6 receiver needed); outside dev, for both reasons.
    expect(checkWebhookUrl("https://[2606:4700:4700::1111]/hook", production).ok).toBe(false);
    // The default port written out is the same URL.
    expect(checkWebhookUrl("https://hooks.example.com:443/x", production)).toMatchObject({ ok: true });
  });

  it("refuses well-known loopback aliases in every environment", () => {
    for (const url of loopbackAliases) {
      expect(checkWebhookUrl(url, production), url).toMatchObject({ ok: false });
      expect(checkWebhookUrl(url, development), `${url} (development)`).toMatchObject({ ok: false });
    }
    // A name merely containing one is not one.
    expect(checkWebhookUrl("https://nip.io.example.com/x", production).ok).toBe(true);
    expect(checkWebhookUrl("https://mylvh.me.example.org/x", production).ok).toBe(true);
  });

  it("refuses the API's own origin everywhere; in development only its port among loopback receivers", () => {
    for (const url of [
      "https://api.edgepay.dev/v1/users",
      "https://API.edgepay.dev./x",
      "https://api.edgepay.dev:443/",
    ]) {
      expect(checkWebhookUrl(url, production), url).toMatchObject({
        ok: false,
        reason: "must not point at this API itself",
      });
    }
    const local = { development: true, selfOrigin: "http://127.0.0.1:8787" };
    for (const url of [
      "http://127.0.0.1:8787/hook",
      "http://localhost:8787/hook",
      "http://[::1]:8787/",
      "http://2130706433:8787/",
      "https://127.0.0.1:8787/",
    ]) {
      expect(checkWebhookUrl(url, local), url).toMatchObject({
        ok: false,
        reason: "must not point at this API itself",
      });
    }
    for (const url of ["http://127.0.0.1:9999/hook", "http://localhost:8788/hook", "https://127.0.0.1/hook"]) {
      expect(checkWebhookUrl(url, local).ok, url).toBe(true);
    }
  });

  it("through the API: a receiver on the API's own loopback port is refused, another port is accepted", async () => {
    const post = (url: string) =>
      exports.default.fetch(
        new Request(
          "http://127.0.0.1:8787/v1/webhook_endpoints",
          json("POST", { url, events: ["payment.succeeded"] }, t.auth),
        ),
      );
    for (const url of ["http://localhost:8787/hook", "http://127.0.0.1:8787/v1/users"]) {
      await expectUrlRefused(await post(url), url);
    }
    expect((await post("http://127.0.0.1:9999/hook")).status).toBe(201);
    for (const url of loopbackAliases.slice(0, 3)) await expectUrlRefused(await create(url), url);
  });
});
