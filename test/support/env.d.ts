declare namespace Cloudflare {
  interface Env {
    TEST_NEON_CONTROL_URL: string;
    TEST_UPSTASH_CONTROL_URL: string;
    TEST_WEBHOOK_RECEIVER_URL: string;
    TEST_REPLICA_URL: string;
    TEST_MAIL_CONTROL_URL: string;
    TEST_MAIL_URL: string;
  }
}
