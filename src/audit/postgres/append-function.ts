/**
 * The batch write as one server-side function, so a batch costs one round
 * trip and one commit. The chain is computed by the caller (`planChain`, in
 * Node, where SHA-256 is cheap); the function only checks, under the head
 * locks, that the chain was built on the heads that are really there, and
 * writes everything with set-based statements (no per-row plpgsql).
 *
 * Steps, all in the caller's transaction (its own when called alone):
 *  1. head rows (seq 0) for workspaces the caller believes new;
 *  2. insert the entries, BEFORE taking any head lock;
 *  3. lock the batch's heads in workspace order (concurrent batches cannot
 *     deadlock on them) and compare each with the head the caller chained on;
 *     a head BEHIND that one means the batch the caller sent before this one
 *     (which this one was chained on) has not committed and may not even
 *     have reached its locks: give the locks back (the plpgsql block is
 *     rolled back) and wait for it, polling, for at most 200 ms;
 *  4. look up the batch's idempotency keys (only ever inserted under the head
 *     lock, so the lookup is exact);
 *  5. if any head moved or any key exists, raise SQLSTATE TK409: the whole
 *     statement, entries included, rolls back;
 *  6. otherwise insert the keys and move the heads.
 * Inserting first is what lets one process keep two batches in flight: the
 * second batch, chained on the heads the first will leave, writes its rows
 * while the first is still committing (its WAL flush), and only then waits
 * for the first's head locks, which Postgres holds until that flush is done.
 * Entries of different batches never share a primary key (different seqs),
 * so these inserts do not wait on each other. An insert that does collide
 * (another process chained the same seq in the same millisecond) fails with
 * a unique violation, which the caller treats like TK409.
 *
 * A batch that fails so (TK409, or a unique violation when another writer
 * chained the same seq in the same millisecond) is written again by
 * `audit_append_locked` (locked-append-function.ts), which takes the head
 * locks first and chains in Postgres, so it cannot be stale.
 *
 * Either way a chain never forks: an entry only commits on top of the head
 * it was hashed on, checked under that head's lock.
 *
 * Parameters are packed to be cheap to build in Node and to parse in
 * Postgres (array literals of long JSON strings cost both sides more than the
 * insert itself): per workspace (`h_*` before, `n_*` after, sorted), and per
 * entry with `e_ws` an index into `h_ws`, hashes as one bytea of 32-byte
 * slices, times as epoch milliseconds, and the JSON columns (body, personal,
 * targets) as one text each, joined by U+001E. JSON text never holds a raw
 * control character, so the separator cannot occur inside a value. An entry
 * takes its recorded-at from its workspace's new head (one per batch).
 */
/** How the store calls it, with the 20 packed parameters of `planParams`. */
export const APPEND_CALL = `select audit_append_chained($1::uuid[], $2::bigint[], $3::bytea, $4::bigint[], $5::bigint[], $6::bytea,
  $7::bigint[], $8::int[], $9::bigint[], $10::bytea, $11::bytea, $12::text, $13::text, $14::text, $15::text[], $16::text[],
  $17::text[], $18::text[], $19::text[], $20::bigint[])`;

/** SQLSTATE it raises when the batch was chained on stale heads or keys; nothing is written. */
export const STALE_CHAIN = "TK409";

const ARGUMENTS_20 =
  "uuid[], bigint[], bytea, bigint[], bigint[], bytea, bigint[], int[], bigint[], bytea, bytea, text, text, text, text[], text[], text[], text[], text[], bigint[]";

/**
 * Drops the earlier versions: the one with `check_only` (21 arguments), and
 * the one before it, whose 20 arguments the current version has again but
 * with another return type, which `create or replace` cannot change. The
 * current version is never dropped: appends running meanwhile keep working.
 */
export const DROP_PREVIOUS_APPEND_FUNCTIONS = `
drop function if exists audit_append_chained(${ARGUMENTS_20}, boolean);
do $drop$ begin
  if (select prorettype from pg_proc where oid = to_regprocedure('audit_append_chained(${ARGUMENTS_20})')) <> 'void'::regtype then
    drop function audit_append_chained(${ARGUMENTS_20});
  end if;
end $drop$;
`;

export const APPEND_FUNCTION_SQL = `
create or replace function audit_append_chained(
  h_ws uuid[], h_seq bigint[], h_hash bytea, h_ms bigint[], n_seq bigint[], n_hash bytea, n_ms bigint[],
  e_ws int[], e_seq bigint[], e_prev bytea, e_hash bytea, e_body text, e_personal text, e_targets text,
  e_key text[], e_actor_type text[], e_actor_id text[], e_action text[], e_outcome text[], e_occurred_ms bigint[])
returns void
language plpgsql as $fn$
declare
  has_keys boolean;
  behind bigint;
  moved bigint;
  give_up timestamptz := clock_timestamp() + interval '200 milliseconds';
begin
  if 0 = any(h_seq) then
    insert into audit_head (workspace_id)
      select x.w from unnest(h_ws, h_seq) as x(w, s) where x.s = 0 order by 1 on conflict do nothing;
  end if;
  insert into audit_entry (workspace_id, seq, recorded_at, prev_hash, hash, body, personal, idempotency_key,
    actor_type, actor_id, action, outcome, occurred_at, targets)
  select h_ws[u.w], u.s, timestamptz 'epoch' + n_ms[u.w] * interval '1 millisecond',
    substring(e_prev from u.i::int * 32 - 31 for 32), substring(e_hash from u.i::int * 32 - 31 for 32),
    u.b, nullif(u.pe, '')::jsonb, u.k, u.at, u.ai, u.ac, u.o, timestamptz 'epoch' + u.oc * interval '1 millisecond', u.t::jsonb
  from unnest(e_ws, e_seq, string_to_array(e_body, E'\\x1e'), string_to_array(e_personal, E'\\x1e'),
    string_to_array(e_targets, E'\\x1e'), e_key, e_actor_type, e_actor_id, e_action, e_outcome, e_occurred_ms)
    with ordinality as u(w, s, b, pe, t, k, at, ai, ac, o, oc, i);
  loop
    begin
      -- Lock every head of the batch (one per workspace, always in workspace order, so concurrent batches
      -- cannot deadlock) and count, on the locked (latest) versions, the heads behind and the heads that
      -- differ from the ones this batch was chained on; a missing head row (the caller thought it
      -- existed) counts as moved, and the locked write that follows creates it.
      select count(*) filter (where a.seq < x.s),
          count(*) filter (where (a.seq, a.hash, a.recorded_at_ms) is distinct from (x.s, substring(h_hash from x.i::int * 32 - 31 for 32), x.m))
        into behind, moved
        from unnest(h_ws, h_seq, h_ms) with ordinality as x(w, s, m, i)
        left join (select h.workspace_id, h.seq, h.hash, h.recorded_at_ms from audit_head h
          where h.workspace_id = any(h_ws) order by h.workspace_id for update) a on a.workspace_id = x.w;
      -- A head behind the one this batch was chained on: the batch sent before it (chained on the same
      -- process's view) has not committed yet, and may not even have reached its locks. Give the locks
      -- back (rolling back this block releases them) and wait for it, for at most 200 ms (after that the
      -- predecessor failed, or the head was rewound: the batch is stale, TK409 below).
      if behind > 0 and clock_timestamp() < give_up then
        raise exception using errcode = 'TK425';
      end if;
      exit;
    exception when sqlstate 'TK425' then
      perform pg_sleep(0.00025);
    end;
  end loop;
  has_keys := exists (select 1 from unnest(e_key) as k where k is not null);
  -- Idempotency keys are only ever inserted under the head lock, so this lookup is exact.
  if moved > 0 or (has_keys and exists (select 1 from audit_idempotency i join unnest(e_ws, e_key) as u(w, k)
      on i.workspace_id = h_ws[u.w] and i.key = u.k)) then
    raise exception using errcode = '${STALE_CHAIN}', message = 'audit heads moved: the batch must be written under the head locks';
  end if;
  if has_keys then
    insert into audit_idempotency (workspace_id, key, seq, hash, recorded_at_ms)
      select h_ws[u.w], u.k, u.s, substring(e_hash from u.i::int * 32 - 31 for 32), n_ms[u.w]
      from unnest(e_ws, e_key, e_seq) with ordinality as u(w, k, s, i) where u.k is not null;
  end if;
  update audit_head a set seq = n.s, hash = substring(n_hash from n.i::int * 32 - 31 for 32), recorded_at_ms = n.m
    from unnest(h_ws, n_seq, n_ms) with ordinality as n(w, s, m, i)
    where a.workspace_id = n.w and n.s <> a.seq;
end
$fn$;
`;
