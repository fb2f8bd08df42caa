-- Every API process remembers, for a few seconds, the sessions it found live (the
-- check behind every authenticated request: one read per request before). A change
-- that can end a session or alter what a request learns about its user notifies
-- `checkout_session_changed` at commit, so every process forgets what it remembered:
-- `s {session id}` when a session is revoked, deleted or shortened, `u {user id}` when
-- a user row changes or goes. Both are rare (logout, revocation, account deletion).
create function notify_session_changed() returns trigger
language plpgsql as $$
declare
    id uuid := case when tg_op = 'DELETE' then old.id else new.id end;
begin
    perform pg_notify('checkout_session_changed',
        case when tg_table_name = 'auth_sessions' then 's ' else 'u ' end || id::text);
    return null;
end
$$;

create trigger auth_sessions_ended_notify
    after update of revoked_at, expires_at, user_id on auth_sessions
    for each row
    when (old.revoked_at is distinct from new.revoked_at
          or new.expires_at < old.expires_at
          or old.user_id is distinct from new.user_id)
    execute function notify_session_changed();

-- pruning deletes ended sessions by the thousand: only a live one is news
create trigger auth_sessions_deleted_notify
    after delete on auth_sessions
    for each row
    when (old.revoked_at is null and old.expires_at > now())
    execute function notify_session_changed();

create trigger users_changed_notify
    after update on users
    for each row
    when (old.* is distinct from new.*)
    execute function notify_session_changed();

create trigger users_deleted_notify
    after delete on users
    for each row execute function notify_session_changed();
