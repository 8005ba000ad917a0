import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateSdkSources, sdkFiles } from "../../dev/sdk-generate";

/*
 * The SDK is typed from the API's own /openapi.json: regenerating its sources must change nothing. When this fails,
 * the API changed and the SDK did not follow: run `npm run sdk:generate` and commit sdk/openapi.json and
 * sdk/src/schema.d.ts (tsc then shows what the change breaks in sdk/src and in the acceptance program).
 */
describe("sdk/ is generated from the current API", () => {
  it("sdk/openapi.json and sdk/src/schema.d.ts equal a fresh generation (no drift)", async () => {
    const fresh = await generateSdkSources();
    expect(readFileSync(sdkFiles.spec, "utf8") === fresh.spec, "sdk/openapi.json is stale").toBe(true);
    expect(readFileSync(sdkFiles.types, "utf8") === fresh.types, "sdk/src/schema.d.ts is stale").toBe(true);
  });

  it("the generated types carry the typed pieces the SDK relies on", () => {
    const types = readFileSync(sdkFiles.types, "utf8");
    for (const op of ["createPayment", "listPayments", "createRefund", "getRefund", "listEvents", "revokeApiKey"]) {
      expect(types, op).toContain(`    ${op}: {`);
    }
    expect(types).toMatch(/"payment\.succeeded": \{/);
    expect(types).toMatch(/code: "validation_error" \| /);
  });
});
