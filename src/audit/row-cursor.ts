import { ok, err, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import type { StoredEntry } from "./event.js";
import type { AuditStore, ReadCursor } from "./store.js";

/**
 * Streams a workspace's rows in (seq, hash) order, page by page, reading the
 * next page while the caller checks this one (so the database and the
 * hashing work at the same time); `rest()` reads ahead to the end.
 */
export class RowCursor {
  #buffer: StoredEntry[] = [];
  #index = 0;
  #after: ReadCursor | undefined;
  #done = false;
  #ahead: Promise<Result<StoredEntry[], SqlError>> | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly workspaceId: string,
    from: number,
    private readonly to: number,
    private readonly page: number,
  ) {
    this.#after = from > 1 ? { seq: from - 1, hash: new Uint8Array(32).fill(255) } : undefined;
  }

  async #fill(): Promise<Result<void, SqlError>> {
    const page = await (this.#ahead ?? this.store.readEntries(this.workspaceId, this.#after, this.to, this.page));
    this.#ahead = undefined;
    if (page.isErr()) return err(page.error);
    if (page.value.length < this.page) this.#done = true;
    const last = page.value[page.value.length - 1];
    if (last !== undefined) this.#after = { seq: last.seq, hash: last.hash };
    if (!this.#done) this.#ahead = this.store.readEntries(this.workspaceId, this.#after, this.to, this.page);
    this.#buffer = this.#buffer.slice(this.#index).concat(page.value);
    this.#index = 0;
    return ok(undefined);
  }

  async next(): Promise<Result<StoredEntry | undefined, SqlError>> {
    if (this.#index >= this.#buffer.length && !this.#done) {
      const filled = await this.#fill();
      if (filled.isErr()) return err(filled.error);
    }
    return ok(this.#buffer[this.#index++]);
  }

  /**
   * The rows after the current one, up to the end of the range or `limit`
   * rows (read only once damage is found, to classify it; a swap with a row
   * farther away than `limit` is then reported as a modification, still at
   * the right seq).
   */
  async rest(limit = 100_000): Promise<Result<StoredEntry[], SqlError>> {
    while (!this.#done && this.#buffer.length - this.#index < limit) {
      const filled = await this.#fill();
      if (filled.isErr()) return err(filled.error);
    }
    return ok(this.#buffer.slice(this.#index));
  }
}
