import type { logger } from "./proc";

type Logger = ReturnType<typeof logger>;

/**
 * Runs the Worker's cron sweeper under `npm run dev` as production does (every minute). wrangler dev never fires
 * crons by itself, and with `[assets]` in wrangler.toml `/cdn-cgi/handler/scheduled` is answered by Miniflare's asset
 * proxy (500) and never reaches the Worker; `wrangler dev --test-scheduled` + `GET /__scheduled` does.
 * Returns a function that stops the timer.
 */
export function startDevCron(opts: { api: string; everyMs: number; log: Logger }): () => void {
  if (opts.everyMs <= 0) {
    opts.log.info("cron sweeper off (EDGEPAY_DEV_SWEEP_SECONDS=0)");
    return () => {};
  }
  let runs = 0;
  let failing = false;
  const fire = async () => {
    try {
      const res = await fetch(`${opts.api}/__scheduled?cron=${encodeURIComponent("* * * * *")}`, {
        signal: AbortSignal.timeout(Math.max(opts.everyMs, 30_000)),
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`/__scheduled answered ${res.status}`);
      if (runs++ === 0 || failing) opts.log.info(`cron sweeper ran (every ${opts.everyMs / 1000} s)`);
      failing = false;
    } catch (err) {
      if (!failing) opts.log.warn(`cron sweeper failed: ${(err as Error).message} (retrying on schedule)`);
      failing = true;
    }
  };
  const timer = setInterval(() => void fire(), opts.everyMs);
  return () => clearInterval(timer);
}
