import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../src/core/random.js";
import { codecFor, FieldCore, parseEnvelope, prepareKey } from "../../../src/crypto/index.js";
import { injectedNonces } from "../../../src/crypto/nonce-source.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import { makeCipher, newWorkspace, okValue } from "./helpers.js";

const SUITES = [0x01, 0x02] as const;

describe("node and noble paths", () => {
  it.each(SUITES)("give identical bytes for random sizes 0-64 KiB and open each other's output (suite %i)", (suite) => {
    const node = codecFor(suite, "node");
    const noble = codecFor(suite, "noble");
    if (!node || !noble) throw new Error("missing codec");
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 65_536 }),
        fc.integer(),
        (keyBytes, nonce, aad, size, seed) => {
          const plaintext = seededRandom(seed).bytes(size);
          const key = prepareKey(keyBytes);
          const a = new Uint8Array(size + 16);
          const b = new Uint8Array(size + 16);
          node.seal(key, nonce, aad, plaintext, a, 0);
          noble.seal(key, nonce, aad, plaintext, b, 0);
          expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
          expect(Buffer.from(node.open(key, nonce, aad, b) ?? []).equals(Buffer.from(plaintext))).toBe(true);
          expect(Buffer.from(noble.open(key, nonce, aad, a) ?? []).equals(Buffer.from(plaintext))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it.each(SUITES)("whole envelopes are byte-identical from a node-path and a noble-path field (suite %i)", (suite) => {
    const workspaceId = parseWorkspaceId(newWorkspace())._unsafeUnwrap();
    const key = prepareKey(new Uint8Array(32).fill(5));
    const field = new FieldCore(workspaceId, "user_property.email");
    for (const size of [0, 1, 100, 4096, 65_536]) {
      const plaintext = seededRandom(size + 1).bytes(size);
      const fromNode = field.seal(codecFor(suite, "node")!, 3, key, injectedNonces(seededRandom(9)), plaintext);
      const fromNoble = field.seal(codecFor(suite, "noble")!, 3, key, injectedNonces(seededRandom(9)), plaintext);
      expect(Buffer.from(fromNode).equals(Buffer.from(fromNoble))).toBe(true);
      expect(okValue(parseEnvelope(fromNode)).keyVersion).toBe(3);
    }
  });

  it.each(["xchacha20-poly1305", "xaes-256-gcm"] as const)("every one of the bit flips of a 47-byte %s envelope fails on both paths", async (suite) => {
    for (const implementation of ["node", "noble"] as const) {
      const { cipher } = makeCipher({ suite, implementation });
      const workspaceId = newWorkspace();
      const purpose = "secret:postmark";
      const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "k" }));
      let failures = 0;
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        const flipped = new Uint8Array(sealed);
        flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        if ((await cipher.decrypt({ workspaceId, purpose, ciphertext: flipped })).isErr()) failures++;
      }
      expect(failures).toBe(47 * 8);
    }
  });
});
