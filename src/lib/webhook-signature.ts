import { fromBase64, hmacSha256Base64, hmacSha256Hex, randomBytes, timingSafeEqual, toBase64 } from "./crypto";

/**
 * `Edgepay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (contract § Webhooks).
 * The timestamp is signed with the body so a receiver can refuse replays older than its tolerance.
 */
export async function signatureHeader(secret: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)) {
  return `t=${nowSeconds},v1=${await hmacSha256Hex(secret, `${nowSeconds}.${body}`)}`;
}

/**
 * A new endpoint secret: `whsec_` + standard base64 of 32 random bytes. As Standard Webhooks defines, the decoded
 * bytes are the key of `webhook-signature`; `Edgepay-Signature` keys its HMAC with the whole string, as before.
 * (Secrets made before were `whsec_` + 64 hex digits: hex digits are base64 characters too, so those decode to
 * 48 bytes and verify with the standard's libraries unchanged.)
 */
export const newWebhookSecret = () => `whsec_${toBase64(randomBytes(32))}`;

/**
 * `webhook-signature: v1,<base64 HMAC-SHA256(base64decode(secret after whsec_), "<id>.<timestamp>.<raw body>")>`
 * (standardwebhooks.com).
 */
export async function standardSignature(secret: string, id: string, timestamp: number, body: string) {
  return `v1,${await hmacSha256Base64(fromBase64(secret.replace(/^whsec_/, "")), `${id}.${timestamp}.${body}`)}`;
}

/** Every signature header of one delivery attempt, both schemes over the same timestamp. */
export async function deliveryHeaders(
  secret: string,
  eventId: string,
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
) {
  const [edgepay, standard] = await Promise.all([
    signatureHeader(secret, body, nowSeconds),
    standardSignature(secret, eventId, nowSeconds, body),
  ]);
  return {
    "Edgepay-Signature": edgepay,
    "webhook-id": eventId,
    "webhook-timestamp": String(nowSeconds),
    "webhook-signature": standard,
  };
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
