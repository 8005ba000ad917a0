import type { MiddlewareHandler } from "hono";
import { ConfigError, getConfig } from "../config";
import type { AppEnv } from "../context";
import { AppError } from "../lib/errors";
import { log } from "../observability/logger";
import { Services } from "../services/container";

/**
 * Parses the configuration (once per isolate) and puts it and the lazily built per-request clients on the context.
 * A broken configuration fails every request loudly, naming the bindings, instead of failing deep in a handler.
 */
export const services = (): MiddlewareHandler<AppEnv> =>
  async function services(c, next) {
    try {
      const config = getConfig(c.env);
      c.set("config", config);
      c.set("services", new Services(config, c.env));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log.error("configuration error", { bindings: err.bindings, error_message: err.message });
      throw new AppError("internal_error", {
        detail: `The server is misconfigured (bindings: ${err.bindings.join(", ")}).`,
        cause: err,
      });
    }
    await next();
  };
