import { randomHex, sha256Hex } from "../lib/crypto";

export const apiKeyRoles = ["owner", "admin", "developer", "viewer"] as const;
export type ApiKeyRole = (typeof apiKeyRoles)[number];
export type KeyMode = "test" | "live";

/** Length of the displayed prefix, e.g. `sk_test_4f9a` (mode prefix + 4 hex characters). */
const shownChars = 4;

export interface NewSecret {
  secret: string;
  prefix: string;
  hash: string;
}

/** A new API key secret: `sk_<mode>_` + 32 random bytes (64 hex chars). Only its SHA-256 and prefix are stored. */
export async function newApiKeySecret(mode: KeyMode): Promise<NewSecret> {
  const secret = `sk_${mode}_${randomHex(32)}`;
  return { secret, prefix: secret.slice(0, `sk_${mode}_`.length + shownChars), hash: await sha256Hex(secret) };
}

export const apiKeySecretPattern = /^sk_(test|live)_[0-9a-f]{64}$/;
