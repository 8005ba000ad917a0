/**
 * The e-mail port. Production sends through Cloudflare Email Service's `send_email` binding (`env.EMAIL.send()`);
 * `npm run dev` and the tests send the same message object, JSON-encoded, to the local mail stand-in (dev/mail) at
 * MAIL_LOCAL_ENDPOINT. Only the destination differs: the message is built by the same code either way.
 */

export interface MailAttachment {
  filename: string;
  /** MIME type, e.g. `application/pdf`. */
  type: string;
  content: Uint8Array;
}

/** The fields of the binding's builder form of `send()` this project uses. */
export interface MailMessage {
  from: { email: string; name: string };
  to: string;
  subject: string;
  text: string;
  html: string;
  headers?: Record<string, string>;
  attachments?: MailAttachment[];
}

export interface Mailer {
  send(message: MailMessage): Promise<{ messageId: string }>;
}

/**
 * A send that failed. `accepted: "no"` means the service certainly did not take the message (it answered with an
 * error), so sending again cannot duplicate it; `"unknown"` means the outcome is not known (timeout, connection
 * lost after the request went out).
 */
export class MailError extends Error {
  override name = "MailError";
  constructor(
    message: string,
    readonly accepted: "no" | "unknown",
  ) {
    super(message);
  }
}

/** Email Service: the binding answers `{ messageId }` or throws (a rejection: the message was not taken). */
export function bindingMailer(binding: SendEmail): Mailer {
  return {
    async send(m) {
      try {
        const result = await binding.send({
          ...m,
          attachments: m.attachments?.map((a) => ({ ...a, disposition: "attachment" as const })),
        });
        return { messageId: result.messageId };
      } catch (err) {
        throw new MailError(`email binding: ${(err as Error).message}`, "no");
      }
    },
  };
}

const base64 = (bytes: Uint8Array) => {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
};

/** The local stand-in: `POST <endpoint>/send` with the message as JSON (attachments base64), answers `{ messageId }`. */
export function httpMailer(endpoint: string, timeoutMs = 10_000): Mailer {
  return {
    async send(m) {
      const body = JSON.stringify({
        ...m,
        attachments: m.attachments?.map((a) => ({ ...a, disposition: "attachment", content: base64(a.content) })),
      });
      let res: Response;
      try {
        res = await fetch(`${endpoint.replace(/\/$/, "")}/send`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        // Refused before anything was sent, or lost/timed out after: only the former is certainly "not sent".
        const refused = /refused/i.test(String((err as Error).message));
        throw new MailError(`mail endpoint: ${(err as Error).message}`, refused ? "no" : "unknown");
      }
      if (!res.ok) throw new MailError(`mail endpoint answered ${res.status}: ${await res.text()}`, "no");
      return (await res.json()) as { messageId: string };
    },
  };
}

/** The mailer the configuration names: the local stand-in when MAIL_LOCAL_ENDPOINT is set, else the binding. */
export function createMailer(localEndpoint: string | undefined, binding: SendEmail | undefined): Mailer | undefined {
  if (localEndpoint) return httpMailer(localEndpoint);
  return binding ? bindingMailer(binding) : undefined;
}
