import { type ClientOptions, Http, type RequestOptions } from "./http";
import type { components, operations } from "./schema";
import { verify } from "./webhooks";

export { EdgepayError, type FieldError, type ProblemCode, WebhookVerificationError } from "./errors";
export type { ClientOptions, RequestOptions } from "./http";
export type { components, operations, paths, webhooks } from "./schema";
export type { HeadersLike, WebhookEvent } from "./webhooks";

type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Order = Schemas["Order"];
export type Payment = Schemas["Payment"];
export type Refund = Schemas["Refund"];
export type Event = Schemas["Event"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type ApiKey = Schemas["ApiKey"];

type Op = keyof operations;
/** The JSON request body of an operation. */
export type BodyOf<K extends Op> = operations[K] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;
/** The query parameters of an operation. */
export type QueryOf<K extends Op> = operations[K] extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
type Ok<R> = R extends { 200: infer X } ? X : R extends { 201: infer X } ? X : R extends { 202: infer X } ? X : never;
/** The JSON body of an operation's success response. */
export type ResultOf<K extends Op> =
  Ok<operations[K]["responses"]> extends {
    content: { "application/json": infer J };
  }
    ? J
    : never;

/** One page of a list. */
export interface Page<T> {
  object: "list";
  url: string;
  has_more: boolean;
  data: T[];
}
type Cursor = { starting_after?: string; ending_before?: string };

/**
 * A list call: `await list.page()` for one page, or `for await (const x of list)` for every item, fetching the next
 * page (`starting_after` = the last id) only when the previous one is used up.
 */
export class AutoPager<T extends { id: string }, Q extends Cursor> implements AsyncIterable<T> {
  constructor(
    private readonly fetchPage: (query: Q) => Promise<Page<T>>,
    private readonly query: Q,
  ) {}

  page(): Promise<Page<T>> {
    return this.fetchPage(this.query);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let query = this.query;
    for (;;) {
      const page = await this.fetchPage(query);
      yield* page.data;
      const last = page.data.at(-1);
      if (!page.has_more || !last) return;
      query = { ...query, starting_after: last.id, ending_before: undefined };
    }
  }
}

const seg = (id: string) => encodeURIComponent(id);

/**
 * The edgepay API client. Runs wherever `fetch` and Web Crypto do (Node ≥ 20, Workers, browsers).
 *
 * ```ts
 * const edgepay = new Edgepay({ apiKey: process.env.EDGEPAY_KEY });
 * const user = await edgepay.users.create({ email: "ada@example.com", name: "Ada" });
 * for await (const p of edgepay.payments.list({ status: "succeeded" })) console.log(p.id);
 * ```
 */
export class Edgepay {
  readonly #http: Http;

  constructor(options: ClientOptions) {
    this.#http = new Http(options);
  }

  #get<K extends Op>(path: string, query?: QueryOf<K>): Promise<ResultOf<K>> {
    return this.#http.request("GET", path, { query });
  }
  #post<K extends Op>(path: string, body: BodyOf<K> | undefined, opts?: RequestOptions): Promise<ResultOf<K>> {
    return this.#http.request("POST", path, { ...opts, body });
  }
  #list<T extends { id: string }, Q extends Cursor>(path: string, query: Q | undefined): AutoPager<T, Q> {
    const empty: Cursor = {};
    return new AutoPager<T, Q>((q) => this.#http.request<Page<T>>("GET", path, { query: q }), query ?? (empty as Q));
  }

  readonly users = {
    create: (body: BodyOf<"createUser">, opts?: RequestOptions) => this.#post<"createUser">("/v1/users", body, opts),
    retrieve: (id: string) => this.#get<"getUser">(`/v1/users/${seg(id)}`),
    update: (id: string, body: BodyOf<"updateUser">) =>
      this.#http.request<ResultOf<"updateUser">>("PATCH", `/v1/users/${seg(id)}`, { body }),
    del: (id: string) => this.#http.request<ResultOf<"deleteUser">>("DELETE", `/v1/users/${seg(id)}`),
    list: (query?: QueryOf<"listUsers">) => this.#list<User, QueryOf<"listUsers">>("/v1/users", query),
  };

  readonly orders = {
    create: (body: BodyOf<"createOrder">, opts?: RequestOptions) => this.#post<"createOrder">("/v1/orders", body, opts),
    retrieve: (id: string) => this.#get<"getOrder">(`/v1/orders/${seg(id)}`),
    cancel: (id: string, opts?: RequestOptions) =>
      this.#post<"cancelOrder">(`/v1/orders/${seg(id)}/cancel`, undefined, opts),
    list: (query?: QueryOf<"listOrders">) => this.#list<Order, QueryOf<"listOrders">>("/v1/orders", query),
  };

  readonly payments = {
    /** 202: the payment is `processing`; poll `retrieve` or listen to `payment.succeeded` / `payment.failed`. */
    create: (body: BodyOf<"createPayment">, opts?: RequestOptions) =>
      this.#post<"createPayment">("/v1/payments", body, opts),
    retrieve: (id: string) => this.#get<"getPayment">(`/v1/payments/${seg(id)}`),
    list: (query?: QueryOf<"listPayments">) => this.#list<Payment, QueryOf<"listPayments">>("/v1/payments", query),
  };

  readonly refunds = {
    /** Refunds a succeeded payment (default: all that is left); 202, `pending`. */
    create: (paymentId: string, body: BodyOf<"createRefund"> = {}, opts?: RequestOptions) =>
      this.#post<"createRefund">(`/v1/payments/${seg(paymentId)}/refunds`, body, opts),
    retrieve: (id: string) => this.#get<"getRefund">(`/v1/refunds/${seg(id)}`),
    list: (query?: QueryOf<"listRefunds">) => this.#list<Refund, QueryOf<"listRefunds">>("/v1/refunds", query),
  };

  readonly events = {
    retrieve: (id: string) => this.#get<"getEvent">(`/v1/events/${seg(id)}`),
    list: (query?: QueryOf<"listEvents">) => this.#list<Event, QueryOf<"listEvents">>("/v1/events", query),
    redeliver: (id: string, opts?: RequestOptions) =>
      this.#post<"redeliverEvent">(`/v1/events/${seg(id)}/redeliver`, undefined, opts),
  };

  readonly webhookEndpoints = {
    /** The answer carries the signing `secret` (`whsec_…`), only this once. */
    create: (body: BodyOf<"createWebhookEndpoint">, opts?: RequestOptions) =>
      this.#post<"createWebhookEndpoint">("/v1/webhook_endpoints", body, opts),
    retrieve: (id: string) => this.#get<"getWebhookEndpoint">(`/v1/webhook_endpoints/${seg(id)}`),
    del: (id: string) =>
      this.#http.request<ResultOf<"deleteWebhookEndpoint">>("DELETE", `/v1/webhook_endpoints/${seg(id)}`),
    list: (query?: QueryOf<"listWebhookEndpoints">) =>
      this.#list<WebhookEndpoint, QueryOf<"listWebhookEndpoints">>("/v1/webhook_endpoints", query),
  };

  readonly apiKeys = {
    /** The answer carries the `secret`, only this once. */
    create: (body: BodyOf<"createApiKey">, opts?: RequestOptions) =>
      this.#post<"createApiKey">("/v1/api_keys", body, opts),
    revoke: (id: string) => this.#http.request<ResultOf<"revokeApiKey">>("DELETE", `/v1/api_keys/${seg(id)}`),
    list: (query?: QueryOf<"listApiKeys">) => this.#list<ApiKey, QueryOf<"listApiKeys">>("/v1/api_keys", query),
  };

  /** Webhook signature verification (Standard Webhooks headers); needs no API key. */
  static readonly webhooks = { verify };
  readonly webhooks = { verify };
}

export default Edgepay;
