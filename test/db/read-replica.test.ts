import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callDirect, json } from "../support/http";
import { createTestTenant } from "../support/tenants";

/*
 * DATABASE_URL_READ: list and get endpoints read from the replica, except for a tenant that wrote in the last few
 * seconds (read-your-writes). The "replica" here is a second, empty database with the same schema behind the same
 * Neon stand-in, so where a read went is visible in its answer.
 */
const withReplica = { DATABASE_URL_READ: env.TEST_REPLICA_URL };

describe("read replica", () => {
  it("serves reads from the replica, but a tenant's reads right after its own write from the primary", async () => {
    const t = await createTestTenant();
    const created = await call("/v1/users", json("POST", { email: "r1@example.com", name: "R1" }, t.auth));
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    // Without a recent write through the replica-aware configuration: reads go to the (lagging, empty) replica.
    const fromReplica = (await (await callDirect("/v1/users", { headers: t.auth }, withReplica)).json()) as {
      data: unknown[];
    };
    expect(fromReplica.data).toHaveLength(0);
    const primaryOnly = (await (await call("/v1/users", { headers: t.auth })).json()) as { data: unknown[] };
    expect(primaryOnly.data).toHaveLength(1);

    // A write flags the tenant for 5 s: its next reads see the primary, including the object just written.
    const write = await callDirect(
      "/v1/users",
      json("POST", { email: "r2@example.com", name: "R2" }, t.auth),
      withReplica,
    );
    expect(write.status).toBe(201);
    const afterWrite = (await (await callDirect("/v1/users", { headers: t.auth }, withReplica)).json()) as {
      data: { id: string }[];
    };
    expect(afterWrite.data.map((u) => u.id)).toContain(id);
    expect(afterWrite.data).toHaveLength(2);

    // Another tenant, which did not write, still reads the replica.
    const other = await createTestTenant();
    await call("/v1/users", json("POST", { email: "o@example.com", name: "O" }, other.auth));
    const theirs = (await (await callDirect("/v1/users", { headers: other.auth }, withReplica)).json()) as {
      data: unknown[];
    };
    expect(theirs.data).toHaveLength(0);
  });
});
