import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./context";
import { validationHook } from "./lib/validation";
import { authenticate } from "./middlewares/auth";
import { limitBody, requireJson } from "./middlewares/body";
import { notFound, onError } from "./middlewares/errors";
import { requestId } from "./middlewares/request-id";
import { services } from "./middlewares/services";
import { registerDocs } from "./routes/docs";
import { registerHealth } from "./routes/health";
import { registerV1 } from "./routes/v1";

/**
 * Builds the Hono app. Order matters: request id first (every response carries it), then configuration and the
 * per-request clients; /v1 adds body limits, content-type checks and authentication before any route runs.
 */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use(requestId());
  app.use(services());
  app.onError(onError);
  app.notFound(notFound);

  registerHealth(app);
  registerDocs(app);

  app.use("/v1/*", limitBody(), requireJson(), authenticate());
  registerV1(app);

  return app;
}
