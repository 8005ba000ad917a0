import type { Producers } from "../services/outbox";

/**
 * Fault switches for the chaos study and tests (issue #13): queue `send()` failures and consumer crashes. Each
 * binding names a local stand-in (dev/lib/standin.ts) whose fault switch decides: the check is one loopback fetch,
 * and anything but a 2xx within 250 ms means "fault on". Both bindings are refused in staging and production
 * (src/config.ts), so there these functions return at once and nothing differs from the code that runs here.
 */
export interface TestFaultBindings {
  /** Stand-in whose fault makes every queue `send()`/`sendBatch()` fail. */
  TEST_QUEUE_SEND_FAULT_URL?: string;
  /** Stand-in whose fault makes the payments consumer crash before its next message (mid-batch). */
  TEST_CONSUMER_FAULT_URL?: string;
}

async function faultOn(url: string | undefined): Promise<boolean> {
  if (!url) return false;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(250) });
    await res.arrayBuffer();
    return !res.ok;
  } catch {
    return true;
  }
}

/** The producers, failing their sends while the queue-send switch is on. */
export function withSendFaults(producers: Producers, url: string | undefined): Producers {
  if (!url) return producers;
  const wrap = <T>(queue: Queue<T>): Queue<T> =>
    ({
      send: async (body: T, options?: QueueSendOptions) => {
        if (await faultOn(url)) throw new Error("injected fault: queue send() failed");
        return queue.send(body, options);
      },
      sendBatch: async (messages: Iterable<MessageSendRequest<T>>, options?: QueueSendBatchOptions) => {
        if (await faultOn(url)) throw new Error("injected fault: queue sendBatch() failed");
        return queue.sendBatch(messages, options);
      },
    }) as Queue<T>;
  return {
    payments: wrap(producers.payments),
    webhooks: wrap(producers.webhooks),
    jobs: wrap(producers.jobs),
    reports: wrap(producers.reports),
  };
}

/** Throws (the consumer invocation crashes, mid-batch) while the consumer switch is on. */
export async function crashIfFaulted(url: string | undefined): Promise<void> {
  if (await faultOn(url)) throw new Error("injected fault: consumer crashed mid-batch");
}
