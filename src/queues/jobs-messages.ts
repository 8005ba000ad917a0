import { z } from "zod";
import { isId } from "../lib/ids";

const id = (prefix: Parameters<typeof isId>[0]) => z.string().refine((v) => isId(prefix, v), `must be a ${prefix}_ id`);

/**
 * Messages on the jobs queue: one e-mail receipt for a succeeded payment (`pay_…`) or refund (`re_…`). Written as an
 * outbox row in the same batch as the `*.succeeded` event (services/event-log.ts), so none is lost; `outboxId` lets
 * the consumer mark the row received.
 */
export const JobMessage = z.object({
  kind: z.literal("receipt"),
  tenantId: id("ten"),
  subjectId: z.string().refine((v) => isId("pay", v) || isId("re", v), "must be a pay_ or re_ id"),
  outboxId: id("obx").optional(),
});
export type JobMessage = z.infer<typeof JobMessage>;

/** Messages on the reports queue: build one report (written with the report row by `POST /v1/reports`). */
export const ReportMessage = z.object({
  kind: z.literal("report"),
  reportId: id("rpt"),
  tenantId: id("ten"),
  outboxId: id("obx").optional(),
});
export type ReportMessage = z.infer<typeof ReportMessage>;
