/**
 * The batch append as one server-side function, so a batch costs one round
 * trip and one commit. It locks the batch's head rows in workspace order,
 * chains each event exactly as `entryHash` does in TypeScript (the same
 * domain tag, 36-byte workspace id, big-endian seq and recorded-at, previous
 * hash, canonical body), stores idempotency keys, and returns where each
 * event went. Callers pass events grouped by workspace (sorted); the memory
 * store and verify use the TypeScript implementation, and the tests check
 * that both agree.
 */
export const APPEND_FUNCTION_SQL = `
create or replace function audit_append_batch(
  p_ws uuid[], p_body text[], p_personal text[], p_key text[], p_actor_type text[], p_actor_id text[],
  p_action text[], p_outcome text[], p_occurred timestamptz[], p_targets text[], p_now_ms bigint)
returns table (idx int, out_seq bigint, out_hash bytea, out_recorded_ms bigint, out_duplicate boolean)
language plpgsql as $fn$
declare
  n int := coalesce(array_length(p_ws, 1), 0);
  cur uuid := null;
  h_seq bigint; h_hash bytea; h_ms bigint; rec_ms bigint;
  k_seq bigint; k_hash bytea; k_ms bigint;
  next_hash bytea;
  a_seq bigint[] := '{}'; a_prev bytea[] := '{}'; a_hash bytea[] := '{}'; a_ms bigint[] := '{}'; a_new boolean[] := '{}';
  tag bytea := convert_to(E'tenancykit/audit/entry/v1\\n', 'UTF8');
begin
  insert into audit_head (workspace_id) select distinct w from unnest(p_ws) as w order by 1 on conflict do nothing;
  -- One lock per workspace, always taken in workspace order: concurrent batches cannot deadlock.
  perform 1 from audit_head where workspace_id = any(p_ws) order by workspace_id for update;
  for i in 1..n loop
    if cur is distinct from p_ws[i] then
      if cur is not null then
        update audit_head set seq = h_seq, hash = h_hash, recorded_at_ms = h_ms where workspace_id = cur;
      end if;
      cur := p_ws[i];
      select seq, hash, recorded_at_ms into h_seq, h_hash, h_ms from audit_head where workspace_id = cur;
      -- recorded-at never goes backwards within a workspace, whatever the hosts' clocks say.
      rec_ms := greatest(p_now_ms, h_ms);
    end if;
    a_new[i] := false;
    if p_key[i] is not null then
      select seq, hash, recorded_at_ms into k_seq, k_hash, k_ms from audit_idempotency where workspace_id = cur and key = p_key[i];
      if found then
        idx := i; out_seq := k_seq; out_hash := k_hash; out_recorded_ms := k_ms; out_duplicate := true;
        return next;
        continue;
      end if;
    end if;
    h_seq := h_seq + 1;
    next_hash := sha256(tag || convert_to(cur::text, 'UTF8') || int8send(h_seq) || int8send(rec_ms) || h_hash || convert_to(p_body[i], 'UTF8'));
    if p_key[i] is not null then
      -- Inserted at once so a repeat of the key later in this batch finds it.
      insert into audit_idempotency (workspace_id, key, seq, hash, recorded_at_ms) values (cur, p_key[i], h_seq, next_hash, rec_ms);
    end if;
    a_new[i] := true; a_seq[i] := h_seq; a_prev[i] := h_hash; a_hash[i] := next_hash; a_ms[i] := rec_ms;
    h_hash := next_hash;
    h_ms := rec_ms;
    idx := i; out_seq := h_seq; out_hash := next_hash; out_recorded_ms := rec_ms; out_duplicate := false;
    return next;
  end loop;
  -- Every new entry in one multi-row insert.
  insert into audit_entry (workspace_id, seq, recorded_at, prev_hash, hash, body, personal, idempotency_key,
    actor_type, actor_id, action, outcome, occurred_at, targets)
  select w, s, timestamptz 'epoch' + r * interval '1 millisecond', pv, h, b, pe::jsonb, k, at, ai, ac, o, oc, t::jsonb
  from unnest(p_ws, a_seq, a_ms, a_prev, a_hash, p_body, p_personal, p_key, p_actor_type, p_actor_id, p_action, p_outcome, p_occurred, p_targets, a_new)
    as u(w, s, r, pv, h, b, pe, k, at, ai, ac, o, oc, t, nw)
  where nw;
  if cur is not null then
    update audit_head set seq = h_seq, hash = h_hash, recorded_at_ms = h_ms where workspace_id = cur;
  end if;
end
$fn$;
`;
