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

/**
 * ISO 4217 minor-unit exponents of the accepted currencies: 2 unless listed. JPY and KRW have no minor unit; HUF,
 * IDR and TWD keep 2 decimals in ISO 4217 even though their cash has none.
 */
const exponents: Partial<Record<Currency, number>> = { jpy: 0, krw: 0 };

/** Decimal places of a currency's minor unit (ISO 4217). */
export function minorUnitExponent(currency: string): number {
  return exponents[currency as Currency] ?? 2;
}

/**
 * An amount in minor units as a major-unit decimal string with its code, locale-independent, e.g. 1999 usd →
 * "19.99 USD", 500 jpy → "500 JPY", 123456789 eur → "1,234,567.89 EUR". Integer arithmetic only (no floats).
 */
export function formatAmount(amount: number, currency: string): string {
  const e = minorUnitExponent(currency);
  const sign = amount < 0 ? "-" : "";
  const digits = String(Math.abs(amount)).padStart(e + 1, "0");
  const major = digits.slice(0, digits.length - e).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const minor = e > 0 ? `.${digits.slice(digits.length - e)}` : "";
  return `${sign}${major}${minor} ${currency.toUpperCase()}`;
}
