-- Accounts, their external (OpenID Connect) identities and refresh-token sessions.
-- Runs with search_path = auth; names are qualified anyway so the SQL reads the same everywhere.

CREATE TABLE auth.users (
    id            uuid PRIMARY KEY,
    -- Stored trimmed and lower-cased, so one address is one account however it is typed.
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 400),
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    -- NULL for accounts that only ever signed in through an OpenID Connect provider.
    password_hash text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- One row per provider account; (provider, subject) is the provider's stable user id.
CREATE TABLE auth.identities (
    provider   text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    email      text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_user_id ON auth.identities (user_id);

-- Opaque refresh tokens, rotated on every use. Every token descended from one sign-in shares a
-- family; presenting a spent token revokes the whole family (a stolen token was used).
CREATE TABLE auth.refresh_tokens (
    id         uuid PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    -- SHA-256 of the token: a copy of this table does not hold usable tokens.
    token_hash bytea NOT NULL UNIQUE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz,
    revoked_at timestamptz,
    CHECK (expires_at > issued_at)
);
CREATE INDEX refresh_tokens_family_id ON auth.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id ON auth.refresh_tokens (user_id);
