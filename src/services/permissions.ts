import type { ApiKeyRole } from "./api-keys-core";

/** What a route can require. Declared next to each route (`defineRoute({ permission })`). */
export const permissions = [
  "users:read",
  "users:write",
  "orders:read",
  "orders:write",
  "payments:read",
  "payments:write",
  "events:read",
  "webhooks:read",
  "webhooks:write",
  "api_keys:read",
  "api_keys:manage",
  "reports:read",
  "reports:write",
  "settings:manage",
] as const;
export type Permission = (typeof permissions)[number];

const reads = permissions.filter((p) => p.endsWith(":read") && p !== "api_keys:read");
const writes: Permission[] = [
  "users:write",
  "orders:write",
  "payments:write",
  "webhooks:read",
  "webhooks:write",
  "reports:write",
];

/**
 * Role → permissions. `viewer` is read-only; `developer` runs the business API, webhooks and reports; `admin` also
 * manages API keys (but cannot mint `owner` keys: see services/api-keys) and the tenant's settings; `owner` can do
 * everything.
 */
export const rolePermissions: Record<ApiKeyRole, ReadonlySet<Permission>> = {
  viewer: new Set(reads),
  developer: new Set([...reads, ...writes]),
  admin: new Set([...reads, ...writes, "api_keys:read", "api_keys:manage", "settings:manage"]),
  owner: new Set(permissions),
};

export function can(role: ApiKeyRole, permission: Permission): boolean {
  return rolePermissions[role].has(permission);
}
