import { hmacSha256Hex, timingSafeEqual } from "./crypto";

/**
 * `Edgepay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (contract § Webhooks).
 * The timestamp is signed with the body so a receiver can refuse replays older than its tolerance.
 */
export async function signatureHeader(secret: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)) {
  return `t=${nowSeconds},v1=${await hmacSha256Hex(secret, `${nowSeconds}.${body}`)}`;
}

/** Receiver-side verification (what docs/payments.md shows receivers): signature and freshness. */
export async function verifySignature(
  secret: string,
  body: string,
  header: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  return timingSafeEqual(await hmacSha256Hex(secret, `${t}.${body}`), parts.v1);
}
