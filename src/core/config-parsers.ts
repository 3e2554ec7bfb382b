import { err, ok, type Result } from "neverthrow";

/**
 * One `TENANCY_*` variable: its name, how to parse it, and its default when
 * unset. `parse` returns a reason string on failure so `loadConfig` can list
 * every bad variable at once.
 */
export interface ConfigVariable<T> {
  readonly name: string;
  readonly description: string;
  readonly parse: (raw: string) => Result<T, string>;
  readonly fallback: T;
}

export function variable<T>(
  name: string,
  description: string,
  parse: (raw: string) => Result<T, string>,
  fallback: T,
): ConfigVariable<T> {
  return { name, description, parse, fallback };
}

export function urlParser(protocols: readonly string[]) {
  return (raw: string): Result<string, string> => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      return err(`not a URL (expected ${protocols.map((p) => `${p}//…`).join(" or ")})`);
    }
    if (!protocols.includes(parsed.protocol)) {
      return err(`protocol ${parsed.protocol} is not one of ${protocols.join(", ")}`);
    }
    // `new URL` accepts forms the clients do not ("redis:host:6380", surrounding spaces, no host):
    // refused here, so a bad value is an InvalidConfig Err and not a client constructor's throw.
    if (raw !== raw.trim()) return err("has leading or trailing whitespace");
    if (!raw.startsWith(`${parsed.protocol}//`)) return err(`must start with ${parsed.protocol}//`);
    // Postgres URLs may name a Unix socket directory instead (postgres:///db?host=/run/postgresql).
    if (parsed.hostname === "" && parsed.protocol.startsWith("redis")) return err("has no host");
    return ok(raw);
  };
}

export function enumParser<const T extends string>(values: readonly T[]) {
  return (raw: string): Result<T, string> => {
    const lowered = raw.toLowerCase();
    const match = values.find((v) => v === lowered);
    return match === undefined ? err(`must be one of ${values.join(", ")}`) : ok(match);
  };
}

export function integerParser(min: number, max: number) {
  return (raw: string): Result<number, string> => {
    if (!/^-?\d+$/.test(raw)) return err(`must be a whole number, got ${JSON.stringify(raw)}`);
    const value = Number(raw);
    if (value < min || value > max) return err(`must be between ${min} and ${max}, got ${value}`);
    return ok(value);
  };
}

export function jsonParser(raw: string): Result<unknown, string> {
  try {
    return ok(JSON.parse(raw) as unknown);
  } catch (thrown) {
    return err(`not valid JSON: ${thrown instanceof Error ? thrown.message : String(thrown)}`);
  }
}

export function stringParser(raw: string): Result<string, string> {
  return raw.length === 0 ? err("must not be empty") : ok(raw);
}
