import { OpenAPIHono } from "@hono/zod-openapi";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "./context";
import { validationHook } from "./lib/validation";
import { authenticate } from "./middlewares/auth";
import { limitBody, requireJson } from "./middlewares/body";
import { corsFromConfig } from "./middlewares/cors";
import { notFoundFor, onError } from "./middlewares/errors";
import { observe } from "./middlewares/observe";
import { requestId } from "./middlewares/request-id";
import { services } from "./middlewares/services";
import { registerDocs } from "./routes/docs";
import { registerErrorPages } from "./routes/errors";
import { registerHealth } from "./routes/health";
import { registerOAuth } from "./routes/oauth";
import { registerV1 } from "./routes/v1";

/**
 * Builds the Hono app. Order matters: request id first (every response carries it), then `observe` (timing headers,
 * the wide-event log line and the Analytics Engine data point of every response, errors included), then
 * configuration and the per-request clients; /v1 adds body limits, content-type checks and authentication before
 * any route runs.
 */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use(requestId());
  app.use(observe());
  app.use(secureHeaders({ crossOriginResourcePolicy: "cross-origin" }));
  app.use(services());
  app.use(corsFromConfig());
  app.onError(onError);
  app.notFound(notFoundFor(() => app.routes));

  registerHealth(app);
  registerDocs(app);
  registerErrorPages(app);
  app.use("/oauth/*", limitBody(8 * 1024));
  registerOAuth(app);

  app.use("/v1/*", limitBody(), requireJson(), authenticate());
  registerV1(app);

  return app;
}
