/**
 * The one logger. Every line is a single JSON object on the console, which Workers Logs indexes field by field.
 * Callers pass structured fields, never preformatted strings, and never secrets, tokens or personal data.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let minLevel: LogLevel = "info";

/** Sets the lowest level written (per isolate). */
export function setLogLevel(level: LogLevel): void {
  minLevel = level;
}

/** Serialises an error for a log line: name, message, code and stack (stacks only go to logs, never responses). */
export function errorFields(err: unknown): LogFields {
  if (!(err instanceof Error)) return { error_message: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    error_name: err.name,
    error_message: err.message,
    ...(code !== undefined ? { error_code: String(code) } : {}),
    error_stack: err.stack,
  };
}

function write(level: LogLevel, message: string, fields: LogFields): void {
  if (order[level] < order[minLevel]) return;
  const line = JSON.stringify({ level, message, time: new Date().toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const log = {
  debug: (message: string, fields: LogFields = {}) => write("debug", message, fields),
  info: (message: string, fields: LogFields = {}) => write("info", message, fields),
  warn: (message: string, fields: LogFields = {}) => write("warn", message, fields),
  error: (message: string, fields: LogFields = {}) => write("error", message, fields),
};
