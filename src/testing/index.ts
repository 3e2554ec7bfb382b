/**
 * tenancykit/testing: helpers for tests of code that uses tenancykit, and the
 * store contract suites each module publishes for its adapters.
 */
export { ManualClock, skewedClock } from "../core/clock.js";
export { seededRandom } from "../core/random.js";
export { runKeyStoreContract, type ContractTestApi as KeyStoreContractTestApi } from "./crypto-contract.js";
export { runAuditStoreContract, type AuditContractTestApi } from "./audit-contract.js";
export { runQuotaStoreContract, type ContractTestApi, type QuotaContractHarness } from "./quota-contract.js";
