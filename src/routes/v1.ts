import type { App } from "../context";
import { registerUsers } from "./users";

/** Every /v1 resource. A new resource file is registered here and nowhere else. */
export function registerV1(app: App): void {
  registerUsers(app);
}
