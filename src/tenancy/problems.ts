import type { Result } from "neverthrow";
import type { ConfigError, ConfigProblem } from "../core/errors.js";

/** The value of `result`, or undefined with its error recorded against `variable`. */
export function collect<T>(result: Result<T, { readonly message: string }>, variable: string, problems: ConfigProblem[]): T | undefined {
  if (result.isOk()) return result.value;
  problems.push({ variable, reason: result.error.message });
  return undefined;
}

export function invalidConfig(problems: readonly ConfigProblem[]): ConfigError {
  return {
    type: "InvalidConfig",
    message: `cannot set up tenancy: ${problems.map((p) => `${p.variable}: ${p.reason}`).join("; ")}`,
    retryable: false,
    problems,
  };
}
