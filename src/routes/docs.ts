import { Scalar } from "@scalar/hono-api-reference";
import type { App } from "../context";

export const openApiInfo = {
  openapi: "3.1.0",
  info: {
    title: "edgepay API",
    version: "1.0.0",
    description:
      "Multi-tenant payments API at the edge. JSON in and out, RFC 9457 errors, cursor-paginated lists, " +
      "Idempotency-Key on POST, asynchronous payments with signed webhooks.\n\n" +
      "**Errors**: every problem's `type` links to a page saying what it means, its common causes and the fix; " +
      "the catalogue is at [/errors](/errors).",
  },
  tags: [
    { name: "Users", description: "A tenant's customers." },
    { name: "Orders", description: "What a user buys; amounts are computed by the server." },
    { name: "Payments", description: "Asynchronous payments of orders." },
    { name: "Refunds", description: "Refunds of payments, asynchronous like payments." },
    { name: "Events", description: "Everything that happened, as delivered to webhooks." },
    { name: "Webhooks", description: "Signed event deliveries to your endpoints." },
    { name: "API keys", description: "Secret keys of your tenant, with roles." },
    { name: "OAuth", description: "Access tokens for API keys (client credentials grant)." },
    { name: "Health", description: "Liveness and readiness." },
    { name: "Reports", description: "CSV exports and PDF statements, built in the background." },
    { name: "Settings", description: "The tenant's settings (owner and admin)." },
  ],
};

/**
 * Scalar's browser bundle, served from this Worker's static assets (copied from node_modules by
 * dev/copy-assets.mjs) so /docs works offline and loads no third-party script.
 */
export const scalarBundle = "/vendor/scalar-api-reference.js";

/** `/openapi.json` (OpenAPI 3.1 generated from the route schemas) and `/docs` (Scalar reference). */
export function registerDocs(app: App): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", {
    type: "http",
    scheme: "bearer",
    description: "A secret API key (`sk_test_…` / `sk_live_…`) as a bearer token.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "OAuth2", {
    type: "oauth2",
    description: "Client credentials grant: client_id = API key id, client_secret = API key secret.",
    flows: { clientCredentials: { tokenUrl: "/oauth/token", scopes: {} } },
  });
  // `servers` is the origin that served the document, so "Try it" in /docs calls this deployment (local or not).
  app.doc31("/openapi.json", (c) => ({
    ...openApiInfo,
    servers: [{ url: new URL(c.req.url).origin, description: "This deployment" }],
  }));
  // withDefaultFonts: false — Scalar's default fonts come from fonts.scalar.com; the system fonts keep /docs local.
  app.get(
    "/docs",
    Scalar({ url: "/openapi.json", pageTitle: "edgepay API reference", cdn: scalarBundle, withDefaultFonts: false }),
  );
}
