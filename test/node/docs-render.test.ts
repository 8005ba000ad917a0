import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";

/**
 * /docs as a reader sees it: the real Worker (wrangler's in-process dev server, with wrangler.toml's static assets)
 * rendered by Debian's Chromium. Proves the Scalar bundle is served by the Worker's own assets and that the page
 * reaches no other host — the reference must work offline and leak nothing to third parties.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const chromiumPath = "/usr/bin/chromium";
const hasChromium = existsSync(chromiumPath);
if (!hasChromium)
  console.warn(`docs-render: SKIPPED, ${chromiumPath} is missing (install it: dev/ci/ensure-chromium.sh)`);

const loopback = new Set(["127.0.0.1", "localhost", "[::1]"]);
/** Operations that must render, by tag: Scalar opens only the first tag group, a reader opens the others. */
const expected = [
  { tag: "Users", summary: "Create a user" },
  { tag: "Orders", summary: "List orders" },
  { tag: "Payments", summary: "Retrieve a payment" },
];

type Worker = Awaited<ReturnType<typeof unstable_startWorker>>;
let worker: Worker | undefined;
let browser: Browser | undefined;
let origin: string;

describe.skipIf(!hasChromium)("GET /docs in headless Chromium", () => {
  beforeAll(async () => {
    const bundle = join(root, "public/vendor/scalar-api-reference.js");
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm install\` (postinstall copies it)`);
    process.env.WRANGLER_SEND_METRICS ??= "false";
    process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
    const plain = (value: string) => ({ type: "plain_text" as const, value });
    // The services middleware parses the configuration on every request; /docs and /openapi.json touch no database.
    worker = await unstable_startWorker({
      config: join(root, "wrangler.toml"),
      bindings: { APP_ENV: plain("test"), DATABASE_URL: plain("postgres://u:p@127.0.0.1:5432/x") },
      dev: {
        server: { hostname: "127.0.0.1", port: 0 },
        inspector: false,
        persist: false,
        watch: false,
        liveReload: false,
        logLevel: "warn",
      },
    });
    origin = (await worker.url).origin;
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await worker?.dispose();
  });

  it("renders the operations with the bundle from /vendor and no request to another host", async () => {
    if (!browser) throw new Error("browser not started");
    const context = await browser.newContext();
    const requests: string[] = [];
    // Record every request; refuse non-loopback ones at once (offline they would only hang until a timeout).
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      requests.push(url.href);
      const local = url.protocol === "data:" || url.protocol === "blob:" || loopback.has(url.hostname);
      return local ? route.continue() : route.abort("blockedbyclient");
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));

    const res = await page.goto(`${origin}/docs`, { waitUntil: "domcontentloaded" });
    expect(res?.status()).toBe(200);
    for (const { tag, summary } of expected) {
      const open = page.getByRole("button", { name: `Open Group - ${tag}`, exact: true });
      await open.or(page.getByRole("button", { name: `Close Group - ${tag}`, exact: true })).waitFor();
      if (await open.isVisible()) await open.click();
      await page.getByText(summary, { exact: true }).first().waitFor({ timeout: 10_000 });
    }
    await context.close();

    expect(requests).toContain(`${origin}/vendor/scalar-api-reference.js`);
    expect(requests).toContain(`${origin}/openapi.json`);
    const foreign = requests.filter((u) => {
      const url = new URL(u);
      return url.protocol !== "data:" && url.protocol !== "blob:" && !loopback.has(url.hostname);
    });
    expect(foreign, "requests to non-loopback hosts").toEqual([]);
    expect(errors, "uncaught page errors").toEqual([]);
  });
});
