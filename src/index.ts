import { createApp } from "./app";
import type { Bindings } from "./env";
import { queueRoutes } from "./queues/consumers";
import { dispatchQueue } from "./queues/dispatch";
import { sweepReports } from "./queues/jobs-sweeper";
import { sweep } from "./queues/sweeper";

const app = createApp();

/** The Worker's only runtime entry points. */
export default {
  fetch: app.fetch,
  async queue(batch, env, ctx) {
    await dispatchQueue(queueRoutes, batch, env, ctx);
  },
  async scheduled(controller, env, _ctx) {
    // Independent sweeps: one failing must not keep the other from running.
    const results = await Promise.allSettled([
      sweep(env, controller.scheduledTime),
      sweepReports(env, controller.scheduledTime),
    ]);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  },
} satisfies ExportedHandler<Bindings>;
