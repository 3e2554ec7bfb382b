/**
 * The batch append for workspaces other writers are appending to as well:
 * one statement that takes the batch's head locks first and then chains,
 * hashes and writes the entries in Postgres, so the locks are held for that
 * statement and its commit only.
 *
 * `audit_append_chained` (chains built in Node) is the fast path for a
 * workspace one process writes at a time, but under contention its chains are
 * mostly stale: every batch inserted its rows, waited for the locks, found a
 * head moved and rolled back, and was then re-chained in an explicit
 * transaction that kept the locks through two more round trips to Node. Four
 * processes appending to the same workspaces measured 1.3–1.6k appends/s
 * that way, against 21k/s for one; 7.5–9.5k/s this way. Here nothing can be
 * stale: the chain is built on the heads as they are under the locks.
 *
 * The hash is `entryHash` (chain.ts) byte for byte: SHA-256 over the domain
 * tag, the workspace id as text (36 bytes), seq and recorded-at as 8-byte
 * big-endian integers (`int8send`), the previous hash and the body's UTF-8.
 * `verify` recomputes it in Node, so a difference could not go unnoticed.
 *
 * Parameters: the batch's workspaces (sorted; the locks are taken in this
 * order, as in `audit_append_chained`, so the two functions cannot deadlock
 * on heads) with the heads the caller believes they have (only to report
 * which moved), the caller's clock, then per event in the caller's order its
 * workspace slot and columns, packed as in `audit_append_chained`.
 *
 * Returns one row per event (`kind` 'entry', `i` its 1-based position):
 * its seq, hash, recorded-at and whether it was a duplicate of an entry
 * already stored under its idempotency key (or of an earlier event of the
 * batch); and one row per workspace (`kind` 'head', `i` its slot): its head
 * after the batch, and whether the head it had before was not the one the
 * caller believed (another writer moved it).
 */
export const LOCKED_APPEND_CALL = `select kind, i, seq::float8 as seq, hash, recorded_at_ms::float8 as recorded_at_ms, flag
  from audit_append_locked($1::uuid[], $2::bigint[], $3::bytea, $4::bigint[], $5::bigint, $6::int[], $7::text, $8::text,
    $9::text, $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[])`;

export const LOCKED_APPEND_FUNCTION_SQL = `
create or replace function audit_append_locked(
  h_ws uuid[], h_seq bigint[], h_hash bytea, h_ms bigint[], now_ms bigint,
  e_ws int[], e_body text, e_personal text, e_targets text, e_key text[], e_actor_type text[], e_actor_id text[],
  e_action text[], e_outcome text[], e_occurred_ms bigint[])
returns table (kind text, i int, seq bigint, hash bytea, recorded_at_ms bigint, flag boolean)
language plpgsql as $fn$
declare
  domain constant bytea := convert_to(E'tenancykit/audit/entry/v1\\n', 'UTF8');
  n constant int := cardinality(e_ws);
  bodies constant text[] := string_to_array(e_body, E'\\x1e');
  found_seq bigint[];
  found_ms bigint[];
  cur_seq bigint[];
  cur_hash bytea[];
  rec bigint[];
  moved boolean[];
  o_seq bigint[] := array_fill(0::bigint, array[n]);
  o_prev bytea[] := array_fill(null::bytea, array[n]);
  o_hash bytea[] := array_fill(null::bytea, array[n]);
  o_ms bigint[] := array_fill(0::bigint, array[n]);
  o_dup boolean[] := array_fill(false, array[n]);
  seen text[] := '{}';
  seen_at int[] := '{}';
  w int;
  j int;
  stored record;
begin
  insert into audit_head (workspace_id) select x.w from unnest(h_ws) as x(w) order by 1 on conflict do nothing;
  select array_agg(a.seq order by x.i), array_agg(a.hash order by x.i), array_agg(a.recorded_at_ms order by x.i),
      array_agg((a.seq, a.hash, a.recorded_at_ms) is distinct from (x.s, substring(h_hash from x.i::int * 32 - 31 for 32), x.m) order by x.i)
    into found_seq, cur_hash, found_ms, moved
    from unnest(h_ws, h_seq, h_ms) with ordinality as x(w, s, m, i)
    left join (select h.workspace_id, h.seq, h.hash, h.recorded_at_ms from audit_head h
      where h.workspace_id = any(h_ws) order by h.workspace_id for update) a on a.workspace_id = x.w;
  -- Created just above unless it existed: a head missing now was deleted meanwhile, and chaining on nothing would fork.
  if array_position(found_seq, null) is not null then
    raise exception using errcode = 'TK410',
      message = format('audit head of workspace %s vanished while appending', h_ws[array_position(found_seq, null)]);
  end if;
  cur_seq := found_seq;
  select array_agg(greatest(now_ms, x.m) order by x.i) into rec from unnest(found_ms) with ordinality as x(m, i);
  for k in 1 .. n loop
    w := e_ws[k];
    if e_key[k] is not null then
      -- A key met earlier in the batch, or already stored (keys are only inserted under the head lock held here).
      j := array_position(seen, h_ws[w]::text || ':' || e_key[k]);
      if j is not null then
        j := seen_at[j];
        o_seq[k] := o_seq[j]; o_hash[k] := o_hash[j]; o_ms[k] := o_ms[j]; o_dup[k] := true;
        continue;
      end if;
      select d.seq, d.hash, d.recorded_at_ms into stored from audit_idempotency d
        where d.workspace_id = h_ws[w] and d.key = e_key[k];
      if found then
        o_seq[k] := stored.seq; o_hash[k] := stored.hash; o_ms[k] := stored.recorded_at_ms; o_dup[k] := true;
        continue;
      end if;
      seen := seen || (h_ws[w]::text || ':' || e_key[k]);
      seen_at := seen_at || k;
    end if;
    cur_seq[w] := cur_seq[w] + 1;
    o_prev[k] := cur_hash[w];
    cur_hash[w] := sha256(domain || convert_to(h_ws[w]::text, 'UTF8') || int8send(cur_seq[w]) || int8send(rec[w])
      || o_prev[k] || convert_to(bodies[k], 'UTF8'));
    o_seq[k] := cur_seq[w]; o_hash[k] := cur_hash[w]; o_ms[k] := rec[w];
  end loop;
  insert into audit_entry (workspace_id, seq, recorded_at, prev_hash, hash, body, personal, idempotency_key,
    actor_type, actor_id, action, outcome, occurred_at, targets)
  select h_ws[u.w], u.s, timestamptz 'epoch' + u.r * interval '1 millisecond', u.p, u.h, u.b, nullif(u.pe, '')::jsonb, u.k,
    u.at, u.ai, u.ac, u.o, timestamptz 'epoch' + u.oc * interval '1 millisecond', u.t::jsonb
  from unnest(e_ws, o_seq, o_ms, o_prev, o_hash, bodies, string_to_array(e_personal, E'\\x1e'),
    string_to_array(e_targets, E'\\x1e'), e_key, e_actor_type, e_actor_id, e_action, e_outcome, e_occurred_ms, o_dup)
    as u(w, s, r, p, h, b, pe, t, k, at, ai, ac, o, oc, d)
  where not u.d;
  insert into audit_idempotency (workspace_id, key, seq, hash, recorded_at_ms)
    select h_ws[u.w], u.k, u.s, u.h, u.r from unnest(e_ws, e_key, o_seq, o_hash, o_ms, o_dup) as u(w, k, s, h, r, d)
    where u.k is not null and not u.d;
  update audit_head a set seq = n.s, hash = n.h, recorded_at_ms = n.r
    from unnest(h_ws, cur_seq, cur_hash, rec) as n(w, s, h, r)
    where a.workspace_id = n.w and n.s <> a.seq;
  return query
    select 'entry'::text, u.k::int, u.s, u.h, u.r, u.d from unnest(o_seq, o_hash, o_ms, o_dup) with ordinality as u(s, h, r, d, k)
    union all
    -- A workspace whose events were all duplicates keeps its head, recorded-at included.
    select 'head'::text, x.i::int, x.s, x.h, case when x.s = x.fs then x.fm else x.r end, x.m
    from unnest(cur_seq, cur_hash, rec, moved, found_seq, found_ms) with ordinality as x(s, h, r, m, fs, fm, i);
end
$fn$;
`;
