import { eq, sql } from "drizzle-orm";
import { sandboxLedger } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import type { ChargeRequest, PaymentProvider, ProviderResult, RefundRequest } from "./provider";

export interface SandboxOptions {
  /** Added to every call, to model a real provider's latency. */
  latencyMs: number;
  /** Probability (0–1) of an injected transient error on any call. */
  failureRate: number;
  /** `pm_card_processingError` fails transiently this many times, then succeeds. */
  transientFailures: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The sandbox provider. It behaves like a real one where it matters for correctness: results are keyed by the
 * idempotency key (a repeated call returns the first final result and never moves money twice), and every call is
 * written to its ledger (`sandbox_ledger`: calls, outcome, settled), which is the audit tests read to prove "at
 * most one charge per payment". The ledger lives in Postgres because consumers run in many isolates.
 */
export class SandboxProvider implements PaymentProvider {
  constructor(
    private readonly db: ScopedDb,
    private readonly options: SandboxOptions,
  ) {}

  charge(req: ChargeRequest): Promise<ProviderResult> {
    return this.call("charge", req.idempotencyKey, req.amount, (calls) => {
      switch (req.paymentMethod) {
        case "pm_card_visa":
          return { status: "succeeded" };
        case "pm_card_chargeDeclined":
          return { status: "failed", code: "card_declined" };
        case "pm_card_insufficientFunds":
          return { status: "failed", code: "insufficient_funds" };
        case "pm_card_processingError":
          return calls <= this.options.transientFailures
            ? { status: "error", message: "sandbox: processing error (transient)" }
            : { status: "succeeded" };
        default:
          return { status: "failed", code: "card_declined" };
      }
    });
  }

  refund(req: RefundRequest): Promise<ProviderResult> {
    return this.call("refund", req.idempotencyKey, req.amount, () => ({ status: "succeeded" }));
  }

  private async call(
    kind: string,
    key: string,
    amount: number,
    decide: (calls: number) => ProviderResult,
  ): Promise<ProviderResult> {
    if (this.options.latencyMs > 0) await sleep(this.options.latencyMs);
    const now = new Date();
    const [row] = await this.db.run(
      this.db.db
        .insert(sandboxLedger)
        .values({ idempotencyKey: key, kind, amount, calls: 1, createdAt: now, updatedAt: now })
        .onConflictDoUpdate({
          target: sandboxLedger.idempotencyKey,
          set: { calls: sql`${sandboxLedger.calls} + 1`, updatedAt: now },
        })
        .returning(),
    );
    if (!row) throw new Error("sandbox ledger write returned nothing");
    // Idempotency: a key that already has a final outcome gets that outcome again, nothing moves.
    if (row.outcome === "succeeded") return { status: "succeeded" };
    if (row.outcome?.startsWith("failed:")) {
      return { status: "failed", code: row.outcome.slice(7) as "card_declined" };
    }
    if (Math.random() < this.options.failureRate) return { status: "error", message: "sandbox: injected failure" };
    const result = decide(row.calls);
    if (result.status !== "error") {
      const outcome = result.status === "succeeded" ? "succeeded" : `failed:${result.code}`;
      await this.db.run(
        this.db.db
          .update(sandboxLedger)
          .set({ outcome, settled: result.status === "succeeded", updatedAt: new Date() })
          .where(eq(sandboxLedger.idempotencyKey, key)),
      );
    }
    return result;
  }
}
