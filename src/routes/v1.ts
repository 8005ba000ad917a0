import type { App } from "../context";
import { registerApiKeys } from "./api-keys";
import { registerEvents } from "./events";
import { registerOrders } from "./orders";
import { registerPayments } from "./payments";
import { registerReports } from "./reports";
import { registerSettings } from "./settings";
import { registerUsers } from "./users";
import { registerWebhookEndpoints } from "./webhook-endpoints";

/** Every /v1 resource. A new resource file is registered here and nowhere else. */
export function registerV1(app: App): void {
  registerUsers(app);
  registerOrders(app);
  registerPayments(app);
  registerEvents(app);
  registerApiKeys(app);
  registerWebhookEndpoints(app);
  registerSettings(app);
  registerReports(app);
}
