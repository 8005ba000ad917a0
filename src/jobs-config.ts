import { z } from "zod";

/*
 * The bindings of the background jobs (e-mail receipts, reports), parsed as part of src/config.ts's schema. Kept in
 * their own file so the jobs capability adds one line to the shared config instead of a block.
 */

const seconds = (def: number, max: number) => z.coerce.number().int().min(0).max(max).default(def);
const httpUrl = z
  .string()
  .trim()
  .refine((v) => /^https?:\/\/[^/]/.test(v) && URL.canParse(v), "must be an http or https URL")
  .optional();

export const jobsSettings = {
  /** Sender address of receipts (the display name is the tenant's). Must be allowed by the `send_email` binding. */
  MAIL_FROM: z.email().default("receipts@edgepay.dev"),
  /** The local mail stand-in (dev/mail): mail goes there instead of the `EMAIL` binding. Refused in staging/production. */
  MAIL_LOCAL_ENDPOINT: httpUrl,
  /** Receipts and reports retry backoff base (default 10 s, doubled per attempt). */
  JOBS_RETRY_BASE_SECONDS: seconds(10, 3600),
  /** Rows per keyset page a report reads from Postgres (one Neon request each). */
  REPORT_PAGE_ROWS: z.coerce.number().int().min(10).max(10_000).default(2000),
  /** Multipart part size of report uploads to R2 (R2's minimum is 5 MiB for every part but the last). */
  REPORT_PART_BYTES: z.coerce
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .max(100 * 1024 * 1024)
    .default(8 * 1024 * 1024),
};

type Settings = z.output<z.ZodObject<typeof jobsSettings>>;

export interface JobsConfig {
  mailFrom: string;
  mailLocalEndpoint: string | undefined;
  retryBaseSeconds: number;
  reportPageRows: number;
  reportPartBytes: number;
}

export function refuseLocalMailInCloud(
  v: Settings & { APP_ENV: string },
  ctx: { addIssue(issue: { code: "custom"; path: string[]; message: string }): void },
): void {
  if (v.MAIL_LOCAL_ENDPOINT && (v.APP_ENV === "staging" || v.APP_ENV === "production")) {
    ctx.addIssue({ code: "custom", path: ["MAIL_LOCAL_ENDPOINT"], message: `must not be set in ${v.APP_ENV}` });
  }
}

export function jobsConfig(v: Settings): JobsConfig {
  return {
    mailFrom: v.MAIL_FROM,
    mailLocalEndpoint: v.MAIL_LOCAL_ENDPOINT,
    retryBaseSeconds: v.JOBS_RETRY_BASE_SECONDS,
    reportPageRows: v.REPORT_PAGE_ROWS,
    reportPartBytes: v.REPORT_PART_BYTES,
  };
}
