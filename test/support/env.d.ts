declare namespace Cloudflare {
  interface Env {
    TEST_NEON_CONTROL_URL: string;
    TEST_UPSTASH_CONTROL_URL: string;
    TEST_WEBHOOK_RECEIVER_URL: string;
    TEST_REPLICA_URL: string;
    TEST_ANALYTICS_URL: string;
    TEST_ANALYTICS_TOKEN: string;
  }
}

/** Vite's raw import of a text file (docs/operations.md in the analytics test). */
declare module "*.md?raw" {
  const text: string;
  export default text;
}
