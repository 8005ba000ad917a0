import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { emailMessages, outbox, tenantSettings, users } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { formatAmount } from "../../src/lib/money";
import { createOrderVia, insertPayment } from "../support/fixtures";
import { call, json } from "../support/http";
import { base64Bytes, fullMessage, mailArrives, mailFaults, mailTo, pdfText } from "../support/mail";
import { createPayment, settled } from "../support/payments";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

/** A jobs-queue batch handed straight to the Worker's queue handler (deterministic: no local queue timing). */
async function consume(bodies: unknown[], queue = "edgepay-jobs") {
  const batch = createMessageBatch(
    queue,
    bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  await waitOnExecutionContext(ctx);
  return getQueueResult(batch, ctx);
}

const receiptJob = (t: TestTenant, subjectId: string) => ({ kind: "receipt", tenantId: t.tenantId, subjectId });

async function emailOf(userId: string): Promise<string> {
  const db = testDb();
  const [u] = await ScopedDb.forService(db).run(db.select().from(users).where(eq(users.id, userId)));
  return u?.email ?? "";
}

/** A succeeded payment written straight to the database: no event, so no receipt job but the ones a test sends. */
async function succeededPayment(t: TestTenant) {
  const { orderId, userId, amount } = await createOrderVia(t);
  const paymentId = await insertPayment(t, orderId, { status: "succeeded", amount });
  return { orderId, paymentId, amount, email: await emailOf(userId) };
}

async function sendRows(t: TestTenant, key: string) {
  const db = testDb();
  return ScopedDb.forService(db).run(
    db
      .select()
      .from(emailMessages)
      .where(and(eq(emailMessages.tenantId, t.tenantId), eq(emailMessages.dedupeKey, key))),
  );
}

afterEach(() => mailFaults("none"));

describe("receipts end to end", () => {
  it("pay → exactly one receipt from the tenant's name: text, HTML and a one-page PDF with amount and order id", async () => {
    const t = await createTestTenant();
    const { orderId, userId } = await createOrderVia(t, [
      { sku: "tee", name: "T-shirt", quantity: 2, unit_amount: 1999 },
    ]);
    const email = await emailOf(userId);
    const res = await createPayment(t, orderId);
    expect(res.status).toBe(202);
    const payment = (await res.json()) as { id: string };
    expect((await settled(t, payment.id)).status).toBe("succeeded");

    const [mail] = await mailArrives(email);
    const amount = "39.98 USD";
    expect(mail?.from.name).toBe(`Test ${t.tenantId}`);
    expect(mail?.subject).toContain(amount);
    expect(mail?.text).toContain(orderId);
    expect(mail?.text).toContain(amount);
    expect(mail?.html).toContain(orderId);
    expect(mail?.headers["X-Edgepay-Receipt"]).toBe(payment.id);
    const full = await fullMessage(mail?.id ?? "");
    expect(full.attachments).toHaveLength(1);
    expect(full.attachments[0]).toMatchObject({ type: "application/pdf", filename: `receipt-${payment.id}.pdf` });
    const pdf = await pdfText(base64Bytes(full.attachments[0]?.content ?? ""));
    expect(pdf.pages).toBe(1);
    expect(pdf.text).toContain(amount);
    expect(pdf.text).toContain(orderId);

    // Exactly one, recorded as sent (a late duplicate delivery would have had time to show up by now).
    await new Promise((r) => setTimeout(r, 500));
    expect(await mailTo(email)).toHaveLength(1);
    const [row] = await sendRows(t, `receipt:${payment.id}`);
    expect(row).toMatchObject({ status: "sent", recipient: email, attempts: 1 });
  });

  it("a refund gets its own receipt with the refunded amount", async () => {
    const t = await createTestTenant();
    const { orderId, userId } = await createOrderVia(t);
    const email = await emailOf(userId);
    const payment = (await (await createPayment(t, orderId)).json()) as { id: string };
    await settled(t, payment.id);
    await mailArrives(email, 1);
    const refund = await call(
      `/v1/payments/${payment.id}/refunds`,
      json("POST", { amount: 1000 }, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }),
    );
    expect(refund.status).toBe(202);
    const { id: refundId } = (await refund.json()) as { id: string };
    const mails = await mailArrives(email, 2);
    const refundMail = mails.find((m) => m.headers["X-Edgepay-Receipt"] === refundId);
    expect(refundMail?.subject).toBe(`Refund receipt from Test ${t.tenantId}: 10.00 USD`);
    expect(refundMail?.text).toContain(payment.id);
  });
});

describe("receipts are sent at most once", () => {
  it("a duplicate delivery, in one batch, in two concurrent batches and later, gives one receipt", async () => {
    const t = await createTestTenant();
    const p = await succeededPayment(t);
    const job = receiptJob(t, p.paymentId);
    const first = await consume([job, job]);
    expect(first.explicitAcks).toHaveLength(2);
    await Promise.all([consume([job]), consume([job])]);
    await consume([job]);
    expect(await mailTo(p.email)).toHaveLength(1);
    expect(await sendRows(t, `receipt:${p.paymentId}`)).toMatchObject([{ status: "sent", attempts: 1 }]);
  });

  it("a consumer that fails mid-batch and gets the whole batch again sends each receipt once", async () => {
    const t = await createTestTenant();
    const ps = [await succeededPayment(t), await succeededPayment(t), await succeededPayment(t)];
    const jobs = ps.map((p) => receiptJob(t, p.paymentId));
    await mailFaults("error", 1); // the first send goes through, then the mail service fails
    const crashed = await consume(jobs);
    expect(crashed.explicitAcks).toHaveLength(1);
    expect(crashed.retryMessages).toHaveLength(2);
    await mailFaults("none");
    // The runtime redelivers the whole batch, as after an invocation that died before its acks were recorded.
    const again = await consume(jobs);
    expect(again.explicitAcks).toHaveLength(3);
    for (const p of ps) expect(await mailTo(p.email), p.paymentId).toHaveLength(1);
  });

  it("a send whose answer is lost keeps its claim: the retry does not send a second copy", async () => {
    const t = await createTestTenant();
    const p = await succeededPayment(t);
    await mailFaults("drop"); // captured by the mail service, but the connection drops before the answer
    const lost = await consume([receiptJob(t, p.paymentId)]);
    expect(lost.retryMessages).toHaveLength(1);
    await mailFaults("none");
    const retried = await consume([receiptJob(t, p.paymentId)]);
    expect(retried.retryMessages).toHaveLength(1); // the claim's lease still holds
    expect(await mailTo(p.email)).toHaveLength(1);
    expect(await sendRows(t, `receipt:${p.paymentId}`)).toMatchObject([{ status: "sending" }]);
  });

  it("a failed payment gets no receipt", async () => {
    const t = await createTestTenant();
    const { orderId, userId } = await createOrderVia(t);
    const id = await insertPayment(t, orderId, { status: "failed", failureCode: "card_declined" });
    expect((await consume([receiptJob(t, id)])).explicitAcks).toHaveLength(1);
    expect(await mailTo(await emailOf(userId))).toEqual([]);
  });
});

describe("receipts off", () => {
  it("PATCH /v1/settings turns them off: a payment then asks for no receipt and none is sent", async () => {
    const t = await createTestTenant();
    const before = await call("/v1/settings", { headers: t.auth });
    expect(await before.json()).toEqual({ object: "settings", receipts: { enabled: true }, updated_at: null });
    const patched = await call("/v1/settings", json("PATCH", { receipts: { enabled: false } }, t.auth));
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ object: "settings", receipts: { enabled: false } });

    const { orderId, userId } = await createOrderVia(t);
    const email = await emailOf(userId);
    const payment = (await (await createPayment(t, orderId)).json()) as { id: string };
    expect((await settled(t, payment.id)).status).toBe("succeeded");
    const db = testDb();
    const jobs = await ScopedDb.forService(db).run(
      db
        .select()
        .from(outbox)
        .where(and(eq(outbox.tenantId, t.tenantId), eq(outbox.topic, "job"))),
    );
    expect(jobs).toEqual([]);
    // Even a job sent anyway (turned off after it was queued) sends nothing.
    expect((await consume([receiptJob(t, payment.id)])).explicitAcks).toHaveLength(1);
    expect(await mailTo(email)).toEqual([]);
    expect(await sendRows(t, `receipt:${payment.id}`)).toEqual([]);
  });

  it("settings are validated (strict body) and turning receipts back on is visible", async () => {
    const t = await createTestTenant();
    const bad = await call("/v1/settings", json("PATCH", { receipts: { enabled: "no" } }, t.auth));
    expect(bad.status).toBe(400);
    const unknown = await call("/v1/settings", json("PATCH", { receipts: { enabled: true, cc: "x" } }, t.auth));
    expect(unknown.status).toBe(400);
    await call("/v1/settings", json("PATCH", { receipts: { enabled: false } }, t.auth));
    await call("/v1/settings", json("PATCH", { receipts: { enabled: true } }, t.auth));
    const now = (await (await call("/v1/settings", { headers: t.auth })).json()) as Record<string, unknown>;
    expect(now.receipts).toEqual({ enabled: true });
    expect(typeof now.updated_at).toBe("string");
  });

  it("concurrent PATCHes of one tenant's settings leave one row with one of the values", async () => {
    const t = await createTestTenant();
    const results = await Promise.all(
      [true, false, true, false].map((enabled) =>
        call("/v1/settings", json("PATCH", { receipts: { enabled } }, t.auth)),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const db = testDb();
    const rows = await ScopedDb.forService(db).run(
      db.select().from(tenantSettings).where(eq(tenantSettings.tenantId, t.tenantId)),
    );
    expect(rows).toHaveLength(1);
    const final = (await (await call("/v1/settings", { headers: t.auth })).json()) as { receipts: unknown };
    expect(final.receipts).toEqual({ enabled: rows[0]?.receiptsEnabled });
  });
});

describe("amounts per currency (ISO 4217 minor units)", () => {
  it.each([
    [1999, "usd", "19.99 USD"],
    [500, "jpy", "500 JPY"],
    [123456789, "eur", "1,234,567.89 EUR"],
    [5, "gbp", "0.05 GBP"],
    [1000000, "krw", "1,000,000 KRW"],
    [100, "huf", "1.00 HUF"],
  ])("%i %s → %s", (amount, currency, expected) => {
    expect(formatAmount(amount, currency)).toBe(expected);
  });
});
