/**
 * tenancykit/core: what every primitive shares. Redis and Postgres plumbing
 * live at `tenancykit/core/redis` and `tenancykit/core/postgres`.
 */
export { parseWorkspaceId, isWorkspaceId, type WorkspaceId } from "./workspace-id.js";
export { familyRoot, type WorkspaceFamily } from "./family.js";
export {
  describeThrown,
  invalidInput,
  storeFailed,
  storeUnavailable,
  tenancyError,
  type ConfigError,
  type ConfigProblem,
  type CoreError,
  type InvalidInputError,
  type InvalidWorkspaceIdError,
  type StoreFailedError,
  type StoreUnavailableError,
  type TenancyErrorBase,
} from "./errors.js";
export { ManualClock, skewedClock, systemClock, type Clock } from "./clock.js";
export { seededRandom, systemRandom, type RandomSource } from "./random.js";
export { CONFIG_VARIABLES, LOG_LEVELS, loadConfig, type LogLevel, type TenancyConfig } from "./config.js";
export { silentLogger, workspaceLogger, type LogFn, type TenancyLogger } from "./logger.js";
export { noopMetricsSink, type TenantMetricsSink } from "./metrics-sink.js";
