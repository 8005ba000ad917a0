import { createApp } from "./app";
import type { Bindings } from "./env";
import { withLocalAnalytics } from "./observability/local-dataset";
import { queueRoutes } from "./queues/consumers";
import { dispatchQueue } from "./queues/dispatch";
import { sweep } from "./queues/sweeper";

const app = createApp();

/** The Worker's only runtime entry points. */
export default {
  fetch: (request, env, ctx) => app.fetch(request, withLocalAnalytics(env, ctx), ctx),
  async queue(batch, env, ctx) {
    await dispatchQueue(queueRoutes, batch, withLocalAnalytics(env, ctx), ctx);
  },
  async scheduled(controller, env, ctx) {
    await sweep(withLocalAnalytics(env, ctx), controller.scheduledTime);
  },
} satisfies ExportedHandler<Bindings>;
