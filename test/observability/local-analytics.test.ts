import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { alerts, fires, forDataset, namedQueries } from "../../dev/ops-queries";
import doc from "../../docs/operations.md?raw";
import worker from "../../src/index";
import { newId } from "../../src/lib/ids";
import { call, callDirect, json } from "../support/http";
import { withFault } from "../support/standins";
import { createTestTenant } from "../support/tenants";

/*
 * The Worker's data points, through the ANALYTICS binding pointed at the local Analytics Engine (the only difference
 * from production), read back with docs/operations.md's own queries and alerts.
 */
const dataset = `edgepay_t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
const local = { ANALYTICS_LOCAL_ENDPOINT: `${env.TEST_ANALYTICS_URL}/write/${dataset}` };

type Row = Record<string, unknown>;
async function sql(text: string): Promise<Row[]> {
  const res = await fetch(`${env.TEST_ANALYTICS_URL}/client/v4/accounts/local/analytics_engine/sql`, {
    method: "POST",
    headers: { Authorization: `Bearer ${env.TEST_ANALYTICS_TOKEN}` },
    body: `${text}\nFORMAT JSON`,
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { data: Row[] }).data;
}
const query = (name: string) => {
  const q = namedQueries(doc).find((x) => x.name === name);
  if (!q) throw new Error(`no query ${name}`);
  return sql(forDataset(q.sql, dataset));
};

describe("the Worker's data points in the local Analytics Engine", () => {
  it("one point per request, under the tenant's index, with the figures the responses show", async () => {
    const t = await createTestTenant();
    const created = await call("/v1/users", json("POST", { email: "ae@example.com", name: "AE" }, t.auth));
    const { id } = (await created.json()) as { id: string };
    const responses: Response[] = [];
    for (let i = 0; i < 6; i++) responses.push(await callDirect(`/v1/users/${id}`, { headers: t.auth }, local));
    responses.push(await callDirect("/v1/users/usr_06bxq3zcq1n8k5rmhd7w4t9yfa", { headers: t.auth }, local));
    responses.push(await callDirect("/v1/users", {}, local)); // unauthenticated: 401 under anon:http

    const byIndex = await sql(
      `SELECT index1, count() AS n, SUM(_sample_interval) AS events FROM ${dataset} GROUP BY index1 ORDER BY index1`,
    );
    expect(byIndex).toEqual([
      { index1: "anon:http", n: 1, events: 1 },
      { index1: t.tenantId, n: 7, events: 7 },
    ]);
    const [overall] = await query("latency_overall");
    expect(Number(overall?.requests)).toBe(8);
    const [errors] = await query("error_rate");
    expect(Number(errors?.server_errors)).toBe(0);

    const cached = responses.filter((r) => r.headers.get("Cache-Status"));
    const hits = cached.filter((r) => r.headers.get("Cache-Status") === "edgepay; hit").length;
    const [cache] = await query("cache_hit_ratio");
    expect(Number(cache?.cached_reads)).toBe(cached.length);
    expect(Number(cache?.hit_ratio)).toBeCloseTo(hits / cached.length, 6);
  });

  it("the dead-letter alert fires when a dead letter's own consumer fails", async () => {
    const alert = alerts(doc).find((a) => a.query === "queue_dead_letters");
    if (!alert) throw new Error("no dead-letter alert");
    const before = await query("queue_dead_letters");
    expect(before.map((r) => fires(alert, r))).not.toContain(true);

    const tenantId = newId("ten");
    const batch = createMessageBatch("edgepay-payments-dlq", [
      {
        id: "dead-1",
        timestamp: new Date(),
        attempts: 1,
        body: { kind: "payment", paymentId: newId("pay"), tenantId },
      },
    ]);
    const ctx = createExecutionContext();
    // Postgres down: the DLQ consumer cannot settle the payment and asks for a retry.
    await withFault("neon", "error", async () => {
      await worker.queue(batch, { ...env, ...local }, ctx);
      await waitOnExecutionContext(ctx);
    });
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["dead-1"]);

    const after = await query("queue_dead_letters");
    expect(after).toHaveLength(1);
    expect(Number(after[0]?.dead_letters)).toBe(1);
    expect(Number(after[0]?.dlq_consumer_failures)).toBe(1);
    expect(fires(alert, after[0] as Row)).toBe(true);
    const [point] = await sql(`SELECT index1 FROM ${dataset} WHERE blob7 = 'message'`);
    expect(point?.index1).toBe(`msg:${tenantId}`);
  });
});
