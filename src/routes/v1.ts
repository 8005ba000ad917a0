import type { App } from "../context";
import { registerApiKeys } from "./api-keys";
import { registerEvents } from "./events";
import { registerOrders } from "./orders";
import { registerPayments } from "./payments";
import { registerRefunds } from "./refunds";
import { registerUsers } from "./users";
import { registerWebhookEndpoints } from "./webhook-endpoints";

/** Every /v1 resource. A new resource file is registered here and nowhere else. */
export function registerV1(app: App): void {
  registerUsers(app);
  registerOrders(app);
  registerPayments(app);
  registerRefunds(app);
  registerEvents(app);
  registerApiKeys(app);
  registerWebhookEndpoints(app);
}
