import { err, ok, type Result } from "neverthrow";
import {
  enumParser,
  integerParser,
  jsonParser,
  stringParser,
  urlParser,
  variable,
  type ConfigVariable,
} from "./config-parsers.js";
import { configError, describeValue, type ConfigError, type ConfigProblem } from "./errors.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Every `TENANCY_*` variable tenancykit reads. Modules add theirs here so the
 * typo check below knows the full list. Values stay raw (strings, JSON) where
 * the owning module validates their shape, because `core` imports no module.
 */
export const CONFIG_VARIABLES = {
  redisUrl: variable<string | undefined>(
    "TENANCY_REDIS_URL",
    "Redis for quotas and the shared cache tier; unset means in-memory stores",
    urlParser(["redis:", "rediss:"]),
    undefined,
  ),
  databaseUrl: variable<string | undefined>(
    "TENANCY_DATABASE_URL",
    "Postgres for durable state (audit log, key store); unset means embedded PGlite",
    urlParser(["postgres:", "postgresql:"]),
    undefined,
  ),
  logLevel: variable<LogLevel>("TENANCY_LOG_LEVEL", "pino level for tenancykit's own logs", enumParser(LOG_LEVELS), "info"),
  redisTimeoutMs: variable<number>(
    "TENANCY_REDIS_TIMEOUT_MS",
    "Per-call Redis timeout in milliseconds",
    integerParser(1, 60_000),
    50,
  ),
  quotaPlans: variable<unknown>("TENANCY_QUOTA_PLANS", "QuotaGuard plans as JSON", jsonParser, undefined),
  rootKeys: variable<string | undefined>(
    "TENANCY_ROOT_KEYS",
    "TenantCipher root keys: comma-separated id:base64 32-byte keys, primary first",
    stringParser,
    undefined,
  ),
  auditSigningKey: variable<string | undefined>(
    "TENANCY_AUDIT_SIGNING_KEY",
    "AuditLogger Ed25519 checkpoint signing key (base64 32-byte seed)",
    stringParser,
    undefined,
  ),
  metricsTopK: variable<number>(
    "TENANCY_METRICS_TOP_K",
    "TenantMetrics: workspaces exported per metric before the __other__ series",
    integerParser(1, 100_000),
    100,
  ),
  metricsMaxWorkspaces: variable<number>(
    "TENANCY_METRICS_MAX_WORKSPACES",
    "TenantMetrics: workspaces tracked exactly per process before Space-Saving takes over (memory ≈ 60 B + 8 B per counter per workspace)",
    integerParser(1, 50_000_000),
    100_000,
  ),
  metricsIdleTtlMs: variable<number>(
    "TENANCY_METRICS_IDLE_TTL_MS",
    "TenantMetrics: a workspace idle this long is retired into __other__ (0 = never)",
    integerParser(0, 2_147_483_647),
    3_600_000,
  ),
} satisfies Record<string, ConfigVariable<unknown>>;

type Variables = typeof CONFIG_VARIABLES;
/** The parsed configuration; every field has its default when the variable is unset. */
export type TenancyConfig = {
  readonly [K in keyof Variables]: Variables[K] extends ConfigVariable<infer T> ? T : never;
};

const KNOWN_NAMES = new Set(Object.values(CONFIG_VARIABLES).map((v) => v.name));

/**
 * Reads tenancykit's configuration from environment variables. Every bad
 * variable is reported at once (with the reason), and unknown `TENANCY_*`
 * names are reported as likely typos rather than silently ignored, because a
 * misspelt `TENANCY_REDIS_URL` would otherwise quietly fall back to memory.
 * Empty values count as unset.
 *
 * @example
 * const config = loadConfig(process.env);
 * if (config.isErr()) { logger().error({ err: config.error }, "bad tenancy config"); process.exit(1); }
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Result<TenancyConfig, ConfigError> {
  const problems: ConfigProblem[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(CONFIG_VARIABLES) as [string, ConfigVariable<unknown>][]) {
    const raw: unknown = env[spec.name];
    if (raw === undefined || raw === "") {
      config[key] = spec.fallback;
      continue;
    }
    // The parsers take strings; a value of another type (from a parsed file, a hand-built object) is a bad value.
    if (typeof raw !== "string") {
      problems.push({ variable: spec.name, reason: `must be a string, got ${describeValue(raw)}` });
      continue;
    }
    const parsed = spec.parse(raw);
    if (parsed.isErr()) problems.push({ variable: spec.name, reason: parsed.error });
    else config[key] = parsed.value;
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith("TENANCY_") && !name.startsWith("TENANCY_TEST_") && !KNOWN_NAMES.has(name)) {
      const suggestion = closestKnownName(name);
      problems.push({
        variable: name,
        reason: `unknown variable (likely a typo${suggestion ? `; did you mean ${suggestion}?` : ""})`,
      });
    }
  }
  if (problems.length > 0) {
    return err(configError(problems));
  }
  return ok(config as TenancyConfig);
}

function closestKnownName(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const known of KNOWN_NAMES) {
    const d = editDistance(name, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
