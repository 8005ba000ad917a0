import { createApp } from "./app";
import type { Bindings } from "./env";
import { withLocalAnalytics } from "./observability/local-dataset";
import { queueRoutes } from "./queues/consumers";
import { dispatchQueue } from "./queues/dispatch";
import { sweepReports } from "./queues/jobs-sweeper";
import { sweep } from "./queues/sweeper";

/** The tenant's live-events Durable Object (GET /v1/events/stream): an entry point like the queue consumers. */
export { LiveEvents } from "./objects/live-events";

const app = createApp();

/** The Worker's only runtime entry points. */
export default {
  fetch: (request, env, ctx) => app.fetch(request, withLocalAnalytics(env, ctx), ctx),
  async queue(batch, env, ctx) {
    await dispatchQueue(queueRoutes, batch, withLocalAnalytics(env, ctx), ctx);
  },
  async scheduled(controller, env, ctx) {
    const local = withLocalAnalytics(env, ctx);
    // Independent sweeps: one failing must not keep the other from running.
    const results = await Promise.allSettled([
      sweep(local, controller.scheduledTime),
      sweepReports(local, controller.scheduledTime),
    ]);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  },
} satisfies ExportedHandler<Bindings>;
