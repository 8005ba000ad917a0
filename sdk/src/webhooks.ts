import { WebhookVerificationError } from "./errors";
import type { webhooks } from "./schema";

type EventTypes = keyof webhooks;
type Delivered<K extends EventTypes> = webhooks[K] extends {
  post: { requestBody?: { content: { "application/json": infer E } } };
}
  ? E
  : never;
/** An event as delivered to a webhook endpoint: a union discriminated on `type`. */
export type WebhookEvent = { [K in EventTypes]: Delivered<K> }[EventTypes];

export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

const encoder = new TextEncoder();

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

const base64 = (bytes: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

/** Constant time in the length of the inputs: every byte is compared whatever the first difference. */
function equal(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Verifies a delivery by its Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
 * with the endpoint's `whsec_…` secret, and returns the typed event. `rawBody` must be the body exactly as received.
 * Throws WebhookVerificationError on a bad signature, a timestamp outside `toleranceSeconds` (default 300: replays),
 * or an event whose id is not the signed `webhook-id`.
 */
export async function verify(
  rawBody: string,
  headers: HeadersLike,
  secret: string,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): Promise<WebhookEvent> {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError("missing webhook-* headers");
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (!/^\d+$/.test(timestamp) || Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? 300)) {
    throw new WebhookVerificationError("timestamp outside the tolerance");
  }
  let keyBytes: Uint8Array;
  try {
    keyBytes = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  } catch {
    throw new WebhookVerificationError("the secret is not whsec_ + base64");
  }
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const expected = base64(await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${rawBody}`)));
  // Several space-separated signatures may be sent (secret rotation): one match is enough, all are compared.
  let ok = false;
  for (const candidate of signatures.split(" ")) {
    const [version, signature = ""] = candidate.split(",", 2);
    if (version === "v1" && equal(signature, expected)) ok = true;
  }
  if (!ok) throw new WebhookVerificationError("signature mismatch");
  const event: WebhookEvent = JSON.parse(rawBody);
  if (event.id !== id) throw new WebhookVerificationError("the event id is not the signed webhook-id");
  return event;
}
