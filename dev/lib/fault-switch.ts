import { type StandIn, startHttpStandIn } from "./standin";

/**
 * A stand-in with nothing behind it: its only job is its fault switch, which the Worker consults in the chaos study
 * and tests (src/queues/test-faults.ts: TEST_QUEUE_SEND_FAULT_URL, TEST_CONSUMER_FAULT_URL). `none` answers 200;
 * any fault (`error`, `refuse`, `hang`) reads as "on". Counters show how often the Worker asked.
 */
export function startFaultSwitch(name: string): Promise<StandIn> {
  return startHttpStandIn({
    name,
    handle: (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    },
  });
}
