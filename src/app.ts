import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./context";
import { validationHook } from "./lib/validation";
import { limitBody, requireJson } from "./middlewares/body";
import { notFound, onError } from "./middlewares/errors";
import { requestId } from "./middlewares/request-id";
import { services } from "./middlewares/services";
import { registerHealth } from "./routes/health";

/** Builds the Hono app: middleware order, route mounting and the OpenAPI document. */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use(requestId());
  app.use(services());
  app.onError(onError);
  app.notFound(notFound);

  registerHealth(app);

  app.use("/v1/*", limitBody(), requireJson());

  return app;
}
