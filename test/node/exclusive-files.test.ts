import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exclusiveFiles, exclusiveMarkers } from "../setup/exclusive";

/** Workers test files: everything under test/ but the Node-side folders and the latency-only folder. */
function workersFiles(dir = "test"): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory())
      return ["test/node", "test/conformance", "test/latency"].includes(path) ? [] : workersFiles(path);
    return e.name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("workers files that must run alone (test/setup/exclusive.ts)", () => {
  it("lists every file that reads the stand-ins' counters, switches faults or runs the sweeper", () => {
    const unlisted = workersFiles().filter(
      (f) => !exclusiveFiles.includes(f) && exclusiveMarkers.some((m) => m.test(readFileSync(f, "utf8"))),
    );
    expect(unlisted).toEqual([]);
  });

  it("lists only files that exist", () => {
    expect(exclusiveFiles.filter((f) => !existsSync(f))).toEqual([]);
  });

  it("is caught by the markers: a file calling withFault() is flagged", () => {
    expect(exclusiveMarkers.some((m) => m.test('await withFault("neon", "refuse", run)'))).toBe(true);
    expect(exclusiveMarkers.some((m) => m.test("const res = await call('/v1/users')"))).toBe(false);
  });
});
