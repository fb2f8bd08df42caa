-- Accounts, sessions (refresh-token families), external identities and login attempts.

-- A student account. Emails are stored normalised (trimmed, lower-case) and unique among
-- live accounts only, so a deleted account's address can register again. An account
-- created from an external identity provider may have no email (the token had none)
-- and has no password (it logs in through the provider only).
create table users (
    id            uuid primary key,
    email         text check (email = lower(btrim(email))),
    name          text not null,
    -- argon2id PHC string; null = no local password
    password_hash text,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    -- soft delete: tokens of a deleted user are refused (code 5007), rows stay for orders
    deleted_at    timestamptz
);

-- Case-insensitive uniqueness even if a row ever escapes the check above.
create unique index users_email_live on users (lower(email)) where deleted_at is null;

create trigger users_updated_at before update on users
    for each row execute function set_updated_at();

-- A subject of an external identity provider (RS256 tokens) mapped to our user.
create table external_identities (
    issuer     text not null,
    subject    text not null,
    user_id    uuid not null references users (id),
    created_at timestamptz not null default now(),
    primary key (issuer, subject)
);

create index external_identities_user on external_identities (user_id);

-- A login session = one refresh-token family on one device. Revoking it kills every
-- refresh token of the family and every access token carrying its id (`sid`).
create table auth_sessions (
    id             uuid primary key,
    user_id        uuid not null references users (id),
    -- client-chosen device identifier (opaque, <= 128 chars), shown in the session list
    device_id      text,
    created_at     timestamptz not null default now(),
    last_used_at   timestamptz not null default now(),
    -- sliding: every rotation pushes it to now + auth.refresh_ttl_secs
    expires_at     timestamptz not null,
    revoked_at     timestamptz,
    revoked_reason text check (revoked_reason in ('logout', 'revoked', 'reuse', 'user_deleted'))
);

create index auth_sessions_user_live on auth_sessions (user_id) where revoked_at is null;

-- Refresh tokens are stored only as sha256 digests (a database leak yields no usable
-- token). The current token of a family has used_at null; a used one presented again
-- is a replay and revokes the whole family.
create table refresh_tokens (
    token_hash bytea primary key check (length(token_hash) = 32),
    session_id uuid not null references auth_sessions (id) on delete cascade,
    created_at timestamptz not null default now(),
    used_at    timestamptz
);

create index refresh_tokens_session on refresh_tokens (session_id);

-- Failed (and in-flight) login attempts, shared by every API process. Counted per
-- normalised email (whether or not the account exists, so a 429 reveals nothing) and
-- per client address within auth.login_window_secs.
create table login_attempts (
    id           bigint generated always as identity primary key,
    account      text not null,
    address      inet not null,
    attempted_at timestamptz not null default clock_timestamp()
);

create index login_attempts_account on login_attempts (account, attempted_at);
create index login_attempts_address on login_attempts (address, attempted_at);
