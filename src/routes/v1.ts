import type { App } from "../context";
import { registerApiKeys } from "./api-keys";
import { registerEventStream } from "./event-stream";
import { registerEvents } from "./events";
import { registerOrders } from "./orders";
import { registerPayments } from "./payments";
import { registerRefunds } from "./refunds";
import { registerReports } from "./reports";
import { registerSettings } from "./settings";
import { registerUsers } from "./users";
import { registerWebhookEndpoints } from "./webhook-endpoints";

/** Every /v1 resource. A new resource file is registered here and nowhere else. */
export function registerV1(app: App): void {
  registerUsers(app);
  registerOrders(app);
  registerPayments(app);
  registerEventStream(app); // before registerEvents: /v1/events/stream is not /v1/events/{id}
  registerRefunds(app);
  registerEvents(app);
  registerApiKeys(app);
  registerWebhookEndpoints(app);
  registerSettings(app);
  registerReports(app);
}
