/**
 * Every Redis key the app uses, in one place. All are under the configured prefix; tenant data is namespaced by
 * tenant so no key of one tenant can collide with another's.
 */
export function redisKeys(prefix: string) {
  return {
    /** `hash:<sha256 of secret>` or `id:<key id>` → principal (or a revocation tombstone). */
    auth: (lookup: string) => `${prefix}auth:${lookup}`,
    object: (tenantId: string, id: string) => `${prefix}t:${tenantId}:obj:${id}`,
    /** Per tenant AND credential (API key id; its OAuth tokens share it): another credential's key is another key. */
    idempotency: (tenantId: string, keyId: string, key: string) => `${prefix}t:${tenantId}:idem:${keyId}:${key}`,
    rateLimit: (scope: string) => `${prefix}rl:${scope}`,
    /** Set for a few seconds after a tenant's write: its reads go to the primary (read-your-writes). */
    recentWrite: (tenantId: string) => `${prefix}t:${tenantId}:rw`,
  };
}
export type Keys = ReturnType<typeof redisKeys>;
