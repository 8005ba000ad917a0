/**
 * Currencies the API accepts (lowercase ISO 4217). Amounts are integers in the currency's minor unit; zero-decimal
 * currencies (jpy, krw) have no minor unit, so 500 jpy is ¥500.
 */
export const currencies = [
  "aed",
  "aud",
  "bgn",
  "brl",
  "cad",
  "chf",
  "cny",
  "czk",
  "dkk",
  "eur",
  "gbp",
  "hkd",
  "huf",
  "idr",
  "ils",
  "inr",
  "jpy",
  "krw",
  "mxn",
  "myr",
  "nok",
  "nzd",
  "php",
  "pln",
  "ron",
  "sar",
  "sek",
  "sgd",
  "thb",
  "try",
  "twd",
  "usd",
  "zar",
] as const;
export type Currency = (typeof currencies)[number];

/** Largest amount in minor units the API accepts for one order or payment (fits in a JS safe integer by far). */
export const maxAmount = 99_999_999_999;
