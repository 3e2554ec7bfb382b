/**
 * The batch write as one server-side function, so a batch costs one round
 * trip and one commit. The chain is computed by the caller (`planChain`, in
 * Node, where SHA-256 is cheap); the function only checks, under the head
 * locks, that the chain was built on the heads that are really there, and
 * then writes everything with set-based statements (no per-row plpgsql, which
 * was the dominant server cost of the earlier design).
 *
 * Steps, all in the caller's transaction (its own when called alone):
 *  1. head rows (seq 0) for workspaces the caller believes new;
 *  2. lock the batch's heads in workspace order (concurrent batches cannot
 *     deadlock) and compare each with the head the caller chained on;
 *  3. look up the batch's idempotency keys (they are only ever inserted under
 *     the head lock, so the lookup is exact);
 *  4. if any head moved or any key exists, return those rows and write
 *     nothing (the caller re-chains on the fresh heads and keys and retries);
 *  5. otherwise insert the entries and keys in one statement each and move
 *     the heads; return no rows.
 * A chain therefore never forks, whatever the caller believed: an entry is
 * only written on top of the head it was hashed on.
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
export const APPEND_FUNCTION_SQL = `
create or replace function audit_append_chained(
  h_ws uuid[], h_seq bigint[], h_hash bytea, h_ms bigint[], n_seq bigint[], n_hash bytea, n_ms bigint[],
  e_ws int[], e_seq bigint[], e_prev bytea, e_hash bytea, e_body text, e_personal text, e_targets text,
  e_key text[], e_actor_type text[], e_actor_id text[], e_action text[], e_outcome text[], e_occurred_ms bigint[])
returns table (kind text, workspace_id uuid, key text, seq bigint, hash bytea, recorded_at_ms bigint)
language plpgsql as $fn$
declare
  stale boolean := false;
  has_keys boolean;
begin
  if 0 = any(h_seq) then
    insert into audit_head (workspace_id)
      select x.w from unnest(h_ws, h_seq) as x(w, s) where x.s = 0 order by 1 on conflict do nothing;
  end if;
  -- One lock per workspace, always taken in workspace order.
  perform 1 from audit_head a where a.workspace_id = any(h_ws) order by a.workspace_id for update;
  -- A missing head row (the caller thought it existed) reads as an empty chain, so the caller's retry creates it.
  return query
    select 'head'::text, x.w, null::text, coalesce(a.seq, 0), coalesce(a.hash, decode(repeat('00', 32), 'hex')),
      coalesce(a.recorded_at_ms, 0)
    from unnest(h_ws, h_seq, h_ms) with ordinality as x(w, s, m, i) left join audit_head a on a.workspace_id = x.w
    where (a.seq, a.hash, a.recorded_at_ms) is distinct from (x.s, substring(h_hash from x.i::int * 32 - 31 for 32), x.m);
  stale := found;
  has_keys := exists (select 1 from unnest(e_key) as k where k is not null);
  if has_keys then
    return query
      select 'key'::text, i.workspace_id, i.key, i.seq, i.hash, i.recorded_at_ms
      from audit_idempotency i join unnest(e_ws, e_key) as u(w, k) on i.workspace_id = h_ws[u.w] and i.key = u.k;
    stale := stale or found;
  end if;
  if stale then
    return;
  end if;
  if has_keys then
    insert into audit_idempotency (workspace_id, key, seq, hash, recorded_at_ms)
      select h_ws[u.w], u.k, u.s, substring(e_hash from u.i::int * 32 - 31 for 32), n_ms[u.w]
      from unnest(e_ws, e_key, e_seq) with ordinality as u(w, k, s, i) where u.k is not null;
  end if;
  insert into audit_entry (workspace_id, seq, recorded_at, prev_hash, hash, body, personal, idempotency_key,
    actor_type, actor_id, action, outcome, occurred_at, targets)
  select h_ws[u.w], u.s, timestamptz 'epoch' + n_ms[u.w] * interval '1 millisecond',
    substring(e_prev from u.i::int * 32 - 31 for 32), substring(e_hash from u.i::int * 32 - 31 for 32),
    u.b, nullif(u.pe, '')::jsonb, u.k, u.at, u.ai, u.ac, u.o, timestamptz 'epoch' + u.oc * interval '1 millisecond', u.t::jsonb
  from unnest(e_ws, e_seq, string_to_array(e_body, E'\\x1e'), string_to_array(e_personal, E'\\x1e'),
    string_to_array(e_targets, E'\\x1e'), e_key, e_actor_type, e_actor_id, e_action, e_outcome, e_occurred_ms)
    with ordinality as u(w, s, b, pe, t, k, at, ai, ac, o, oc, i);
  update audit_head a set seq = n.s, hash = substring(n_hash from n.i::int * 32 - 31 for 32), recorded_at_ms = n.m
    from unnest(h_ws, n_seq, n_ms) with ordinality as n(w, s, m, i)
    where a.workspace_id = n.w and n.s <> a.seq;
end
$fn$;
`;
