import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { configBindings } from "../../src/config";

/** .dev.vars.example documents every binding the code reads, and nothing it does not. */
const root = fileURLToPath(new URL("../..", import.meta.url));
const example = readFileSync(join(root, ".dev.vars.example"), "utf8");
/** `NAME=value` entries, set or commented out. */
const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1] as string));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

describe(".dev.vars.example", () => {
  it("has an entry for every variable src/config.ts parses", () => {
    const bindings = configBindings();
    expect(bindings.length).toBeGreaterThan(10);
    expect(bindings.filter((b) => !documented.has(b))).toEqual([]);
  });

  it("has no entry the code does not read", () => {
    const bindings = new Set(configBindings());
    expect([...documented].filter((name) => !bindings.has(name))).toEqual([]);
  });

  it("names every other binding src/ reads from env (queues, Analytics Engine)", () => {
    const read = new Set(
      sourceFiles(join(root, "src")).flatMap((f) =>
        [...readFileSync(f, "utf8").matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1] as string),
      ),
    );
    expect(read.size).toBeGreaterThan(0);
    expect([...read].filter((name) => !example.includes(name))).toEqual([]);
  });
});

describe("npm run deploy", () => {
  it("deploys a named environment, never the development configuration", async () => {
    const { deployArgs } = await import("../../dev/deploy");
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.deploy).toBe("tsx dev/deploy.ts");
    for (const env of [undefined, "development", "dev", "test", ""])
      expect(deployArgs(env), String(env)).toHaveProperty("error");
    expect(deployArgs("production")).toMatchObject({ args: ["wrangler", "deploy", "--env", "production"] });
    const wrangler = readFileSync(join(root, "wrangler.toml"), "utf8");
    for (const env of ["staging", "production"]) expect(wrangler).toContain(`[env.${env}]`);
  });
});
