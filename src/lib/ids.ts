/**
 * Object IDs: `<prefix>_<26 chars>`. The 26 characters are the Crockford base32 (lowercase) of a UUIDv7, which the
 * database stores in a 16-byte `uuid` column. UUIDv7 starts with a millisecond timestamp, so IDs sort by creation
 * time both as strings and as uuids, and a keyset on `id` alone is a keyset on creation order.
 */
export const idPrefixes = {
  tenant: "ten",
  apiKey: "key",
  user: "usr",
  order: "ord",
  payment: "pay",
  refund: "re",
  event: "evt",
  webhookEndpoint: "we",
  webhookDelivery: "whd",
  outbox: "obx",
  report: "rpt",
} as const;
export type IdPrefix = (typeof idPrefixes)[keyof typeof idPrefixes];

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
const decodeTable = new Map([...alphabet].map((ch, i) => [ch, i]));
const bodyPattern = /^[0-7][0-9a-hjkmnp-tv-z]{25}$/;

let lastMs = 0;
let sequence = 0;

/** 16 bytes of a UUIDv7: 48-bit ms timestamp, 12-bit per-isolate sequence (monotonic within a ms), random rest. */
export function uuidv7Bytes(now = Date.now()): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  if (now === lastMs) sequence = (sequence + 1) & 0xfff;
  else {
    lastMs = now;
    sequence = (bytes[6] ?? 0) & 0x7; // random start, leaving room to count up within the millisecond
  }
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  return bytes;
}

function encode32(bytes: Uint8Array): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = "";
  for (let i = 0; i < 26; i++) {
    out = alphabet[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

function decode32(body: string): bigint {
  let value = 0n;
  for (const ch of body) value = (value << 5n) | BigInt(decodeTable.get(ch) ?? 0);
  return value;
}

const hex = (value: bigint) => value.toString(16).padStart(32, "0");

/** A new ID with the given prefix. */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  return `${prefix}_${encode32(uuidv7Bytes(now))}`;
}

/** True when `id` is a well-formed ID with that prefix (the shape check the API does before any lookup). */
export function isId(prefix: IdPrefix, id: string): boolean {
  return id.startsWith(`${prefix}_`) && bodyPattern.test(id.slice(prefix.length + 1));
}

/** ID → uuid text for the database. Throws on a malformed ID: callers validate first with `isId`. */
export function idToUuid(prefix: IdPrefix, id: string): string {
  if (!isId(prefix, id)) throw new TypeError(`malformed ${prefix} id`);
  const h = hex(decode32(id.slice(prefix.length + 1)));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** uuid text from the database → ID. */
export function uuidToId(prefix: IdPrefix, uuid: string): string {
  const value = BigInt(`0x${uuid.replaceAll("-", "")}`);
  const bytes = new Uint8Array(16);
  let v = value;
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return `${prefix}_${encode32(bytes)}`;
}

/**
 * The smallest possible ID of a given millisecond. IDs sort by creation time, so `created_gte = t` is `id >=
 * idFloor(t)` and `created_lte = t` is `id < idFloor(t + 1)`: date filters use the same index as the keyset.
 */
export function idFloor(prefix: IdPrefix, ms: number): string {
  const bytes = new Uint8Array(16);
  let v = Math.min(Math.max(0, Math.floor(ms)), 2 ** 48 - 1);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return `${prefix}_${encode32(bytes)}`;
}

/** The time (ms since epoch) an ID was created. */
export function idTime(prefix: IdPrefix, id: string): number {
  return Number(decode32(id.slice(prefix.length + 1)) >> 80n);
}
