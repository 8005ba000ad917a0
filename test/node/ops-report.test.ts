import { execFile } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alertQueries, forDataset, namedQueries, readOperationsDoc } from "../../dev/ops-queries";

/*
 * `npm run ops:report` against a local stand-in of the Analytics Engine SQL API. Only the request shape is
 * checked (method, path, bearer token, SQL body): what the real API answers cannot be reproduced here.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));

interface Seen {
  method: string | undefined;
  url: string | undefined;
  authorization: string | undefined;
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
let status = 200;

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body: await bodyOf(req) });
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(status === 200 ? JSON.stringify({ meta: [], data: [], rows: 0 }) : '{"errors":["no"]}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function report(args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env };
  delete clean.CLOUDFLARE_ACCOUNT_ID;
  delete clean.CLOUDFLARE_API_TOKEN;
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      "npm",
      ["run", "--silent", "ops:report", "--", ...args],
      { cwd: root, env: { ...clean, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("npm run ops:report", () => {
  it("POSTs every doc query, for the chosen dataset and window, to the account's SQL endpoint", async () => {
    seen.length = 0;
    const r = await report([
      "--account",
      "acc123",
      "--token",
      "tok-secret",
      "--api-base",
      base,
      "--dataset",
      "edgepay_staging",
      "--hours",
      "6",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const doc = readOperationsDoc();
    const queries = namedQueries(doc);
    const forAlerts = alertQueries(doc);
    expect(seen).toHaveLength(queries.length);
    seen.forEach((req, i) => {
      const q = queries[i];
      const alert = forAlerts.has(q?.name ?? "");
      expect(req.method).toBe("POST");
      expect(req.url).toBe("/client/v4/accounts/acc123/analytics_engine/sql");
      expect(req.authorization).toBe("Bearer tok-secret");
      expect(req.body).toBe(`${forDataset(q?.sql ?? "", "edgepay_staging", alert ? undefined : 6)}\nFORMAT JSON`);
      expect(req.body).toContain("FROM edgepay_staging");
      // --hours sets the tables' window; an alert always reads the last hour, as the doc writes it.
      expect(req.body).toContain(alert ? "NOW() - INTERVAL '1' HOUR" : "NOW() - INTERVAL '6' HOUR");
      expect(req.body).not.toContain("edgepay_production");
    });
    expect(forAlerts.size).toBe(4);
    expect(r.stdout).toContain("latency_by_route");
    expect(r.stdout).not.toContain("tok-secret");
    expect(seen.some((req) => req.body.includes("INTERVAL '1' HOUR) AS hour"))).toBe(true);
  });

  it("--bucket-minutes buckets the time series, not the alerts", async () => {
    seen.length = 0;
    const r = await report(["--account", "a", "--token", "t", "--api-base", base, "--bucket-minutes", "5"]);
    expect(r.code).toBe(0);
    const hourly = seen.filter((req) => req.body.includes("toStartOfInterval"));
    expect(hourly.length).toBeGreaterThan(3);
    for (const req of hourly) expect(req.body).toContain("toStartOfInterval(timestamp, INTERVAL '5' MINUTE) AS hour");
  });

  it("takes the account and token from CLOUDFLARE_ACCOUNT_ID / CLOUDFLARE_API_TOKEN, defaults to 24 h of production", async () => {
    seen.length = 0;
    const r = await report(["--api-base", base], { CLOUDFLARE_ACCOUNT_ID: "acc9", CLOUDFLARE_API_TOKEN: "tok9" });
    expect(r.code).toBe(0);
    expect(seen[0]?.url).toBe("/client/v4/accounts/acc9/analytics_engine/sql");
    expect(seen[0]?.authorization).toBe("Bearer tok9");
    const tables = seen.filter((r) => !r.body.includes("count() AS sample_rows"));
    expect(tables[0]?.body).toContain("FROM edgepay_production");
    expect(tables[0]?.body).toContain("NOW() - INTERVAL '24' HOUR");
  });

  it("exits 1 without credentials (sending nothing) and when the API refuses", async () => {
    seen.length = 0;
    const none = await report(["--api-base", base]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/--account and --token/);
    expect(seen).toHaveLength(0);
    status = 403;
    try {
      const refused = await report(["--account", "a", "--token", "t", "--api-base", base]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain("FAILED: HTTP 403");
    } finally {
      status = 200;
    }
  });
});
