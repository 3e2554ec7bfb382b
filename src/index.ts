/**
 * tenancykit: multitenancy primitives for workspace-scoped Node backends.
 *
 * The root entry holds the shared core only; each primitive has its own
 * subpath (`tenancykit/quota`, `tenancykit/cache`, …) so importing one never
 * loads the others or their optional peers.
 */
export {
  CONFIG_VARIABLES,
  ManualClock,
  loadConfig,
  parseWorkspaceId,
  silentLogger,
  systemClock,
  systemRandom,
  type Clock,
  type ConfigError,
  type CoreError,
  type RandomSource,
  type TenancyConfig,
  type TenancyErrorBase,
  type TenancyLogger,
  type WorkspaceId,
} from "./core/index.js";
