import { describe, expect, it } from "vitest";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { runAuditStoreContract } from "../../../src/testing/audit-contract.js";

runAuditStoreContract({ describe, it, expect }, "memory", () => new MemoryAuditStore());
