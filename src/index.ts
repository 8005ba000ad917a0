import { createApp } from "./app";
import type { Bindings } from "./env";
import { log } from "./observability/logger";
import { queueRoutes } from "./queues/consumers";
import { dispatchQueue } from "./queues/dispatch";

const app = createApp();

/** The Worker's only runtime entry points. */
export default {
  fetch: app.fetch,
  async queue(batch, env, ctx) {
    await dispatchQueue(queueRoutes, batch, env, ctx);
  },
  async scheduled(controller, _env, _ctx) {
    log.info("cron tick", { cron: controller.cron, scheduled_time: new Date(controller.scheduledTime).toISOString() });
  },
} satisfies ExportedHandler<Bindings>;
