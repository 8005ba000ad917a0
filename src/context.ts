import type { OpenAPIHono, RouteConfig, RouteHandler } from "@hono/zod-openapi";
import type { Config } from "./config";
import type { Bindings } from "./env";
import type { Principal } from "./services/auth";
import type { Services } from "./services/container";
import type { Idempotency } from "./services/idempotent-rows";

export interface Variables {
  requestId: string;
  config: Config;
  services: Services;
  /** Set by `authenticate` on every /v1 route. */
  principal: Principal;
  /** The Redis read of the object a GET serves, started in the rate limiter's pipeline (see guard). */
  prefetched: { key: string; read: Promise<unknown> } | undefined;
  /** Cache write-throughs queued by the route, issued by the guard with its other post-route Redis commands. */
  cacheWrites: (() => Promise<unknown>)[] | undefined;
  /** With a read replica: whether this tenant wrote in the last seconds (read in the guard's pipeline). */
  recentWrite: Promise<unknown> | undefined;
  /** The request's Idempotency-Key and fingerprint, when it sent one (routes that key effects in Postgres use it). */
  idempotency: Idempotency | undefined;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}

export type App = OpenAPIHono<AppEnv>;
export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;
