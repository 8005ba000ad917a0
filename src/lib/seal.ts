/**
 * Authenticated encryption of data the API keeps outside Postgres (stored idempotent responses hold `sk_…` and
 * `whsec_…` secrets): AES-256-GCM under a key derived with HKDF-SHA-256 from a server secret, with a label of its
 * own, so the derived key is independent of every other use of that secret (docs/security.md § Secrets at rest).
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Derived keys by (secret, label): a handful at most per isolate (one per label, plus one after a rotation). */
const derived = new Map<string, Promise<CryptoKey>>();
let isolateKey: Promise<CryptoKey> | undefined;

/**
 * The AES-GCM key for `label`, derived from `secret`. Without a secret (development without JWT_SIGNING_KEY) a random
 * key of this isolate: what it sealed can be opened only here, which a single dev server is.
 */
export function sealingKey(secret: string | undefined, label: string): Promise<CryptoKey> {
  if (!secret) {
    isolateKey ??= crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]) as Promise<CryptoKey>;
    return isolateKey;
  }
  const id = `${label}\n${secret}`;
  let key = derived.get(id);
  if (!key) {
    if (derived.size >= 8) derived.clear();
    key = crypto.subtle
      .importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: encoder.encode("edgepay"), info: encoder.encode(label) },
          base,
          { name: "AES-GCM", length: 256 },
          false,
          ["encrypt", "decrypt"],
        ),
      );
    derived.set(id, key);
  }
  return key;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Encrypts `plaintext`; `context` (e.g. the Redis key it is stored under) is authenticated, not stored, so a sealed
 * value copied to another key does not open. Output: base64 of a random 96-bit IV followed by the ciphertext.
 */
export async function seal(key: CryptoKey, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(context) },
    key,
    encoder.encode(plaintext),
  );
  const out = new Uint8Array(12 + data.byteLength);
  out.set(iv);
  out.set(new Uint8Array(data), 12);
  return toBase64(out);
}

/** Decrypts what `seal` produced under the same key and context; null when it does not authenticate. */
export async function unseal(key: CryptoKey, sealed: string, context: string): Promise<string | null> {
  try {
    const bytes = fromBase64(sealed);
    const data = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: encoder.encode(context) },
      key,
      bytes.subarray(12),
    );
    return decoder.decode(data);
  } catch {
    return null;
  }
}
