"""The SQL of the PostgreSQL store: migrations and statements, as complete literals.

Nothing user-supplied is ever spliced into these strings; every value is a ``$n``
parameter. Kept apart from :mod:`gatepass.stores.postgres` (which holds the behaviour
and is the only module importing the driver).
"""

from __future__ import annotations

#: Ordered schema migrations; version n is ``MIGRATIONS[n - 1]``. Never edit a shipped
#: entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE gatepass_users (
        id text COLLATE "C" PRIMARY KEY,
        email text COLLATE "C" NOT NULL UNIQUE,
        password_hash text NOT NULL,
        created_at double precision NOT NULL,
        disabled boolean NOT NULL DEFAULT false);
    CREATE INDEX gatepass_users_created ON gatepass_users (created_at, id);
    CREATE TABLE gatepass_sessions (
        id_hash text COLLATE "C" PRIMARY KEY,
        sid text COLLATE "C" NOT NULL UNIQUE,
        user_id text COLLATE "C" NOT NULL,
        created_at double precision NOT NULL,
        last_seen_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        idle_ttl double precision NOT NULL,
        csrf_secret text NOT NULL,
        ip text,
        user_agent text,
        data text NOT NULL DEFAULT '{}');
    CREATE INDEX gatepass_sessions_user ON gatepass_sessions (user_id, created_at);
    CREATE INDEX gatepass_sessions_deadline
        ON gatepass_sessions ((LEAST(expires_at, last_seen_at + idle_ttl)));
    CREATE TABLE gatepass_families (
        family_id text COLLATE "C" PRIMARY KEY,
        user_id text COLLATE "C" NOT NULL,
        created_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        current_hash text NOT NULL,
        generation bigint NOT NULL DEFAULT 0,
        previous_hash text,
        rotated_at double precision,
        sealed_successor text,
        last_used_at double precision,
        revoked boolean NOT NULL DEFAULT false,
        scope text NOT NULL DEFAULT '',
        audience text,
        ip text,
        user_agent text,
        csrf_hash text);
    CREATE INDEX gatepass_families_user ON gatepass_families (user_id, created_at);
    CREATE INDEX gatepass_families_expires ON gatepass_families (expires_at);
    CREATE TABLE gatepass_spent_hashes (
        family_id text COLLATE "C" NOT NULL
            REFERENCES gatepass_families (family_id) ON DELETE CASCADE,
        hash text COLLATE "C" NOT NULL,
        PRIMARY KEY (family_id, hash));
    CREATE TABLE gatepass_revoked (
        kind text COLLATE "C" NOT NULL CHECK (kind IN ('jti', 'sid', 'user')),
        value text COLLATE "C" NOT NULL,
        expires_at double precision NOT NULL,
        not_before double precision,
        PRIMARY KEY (kind, value));
    CREATE TABLE gatepass_revocation_log (
        seq bigserial PRIMARY KEY,
        kind text NOT NULL,
        value text NOT NULL,
        expires_at double precision NOT NULL,
        not_before double precision,
        created_at double precision NOT NULL);
    CREATE INDEX gatepass_revocation_log_expires ON gatepass_revocation_log (expires_at);
    CREATE TABLE gatepass_keys (
        seq bigserial PRIMARY KEY,
        kid text COLLATE "C" NOT NULL UNIQUE,
        alg text NOT NULL,
        private_jwk text NOT NULL,
        created_at double precision NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'verify', 'retired')));
    CREATE TABLE gatepass_throttle (
        id bigserial PRIMARY KEY,
        key text COLLATE "C" NOT NULL,
        ts double precision NOT NULL);
    CREATE INDEX gatepass_throttle_key ON gatepass_throttle (key, ts);
    CREATE INDEX gatepass_throttle_ts ON gatepass_throttle (ts);
    CREATE TABLE gatepass_audit (
        id bigserial PRIMARY KEY,
        action text NOT NULL,
        outcome text NOT NULL,
        created_at double precision NOT NULL,
        user_id text COLLATE "C",
        sid text,
        ip text,
        user_agent text,
        detail text);
    CREATE INDEX gatepass_audit_created ON gatepass_audit (created_at, id);
    CREATE INDEX gatepass_audit_user ON gatepass_audit (user_id, created_at, id);
    """,
    # 2: the 'session' revocation kind (a session id retired by rotation).
    """
    ALTER TABLE gatepass_revoked DROP CONSTRAINT gatepass_revoked_kind_check;
    ALTER TABLE gatepass_revoked ADD CONSTRAINT gatepass_revoked_kind_check
        CHECK (kind IN ('jti', 'sid', 'user', 'session'));
    """,
)

CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS gatepass_schema_migrations ("
    "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)
# Every statement is a complete literal with $n parameters: nothing is spliced into SQL.
SELECT_USER = (
    "SELECT id, email, password_hash, created_at, disabled FROM gatepass_users WHERE id = $1"
)
SELECT_USER_BY_EMAIL = (
    "SELECT id, email, password_hash, created_at, disabled FROM gatepass_users WHERE email = $1"
)
LIST_USERS = (
    "SELECT id, email, password_hash, created_at, disabled FROM gatepass_users "
    "ORDER BY created_at, id LIMIT $1 OFFSET $2"
)
INSERT_USER = (
    "INSERT INTO gatepass_users (id, email, password_hash, created_at, disabled) "
    "VALUES ($1, $2, $3, $4, $5)"
)
INSERT_SESSION = (
    "INSERT INTO gatepass_sessions (id_hash, sid, user_id, created_at, last_seen_at, "
    "expires_at, idle_ttl, csrf_secret, ip, user_agent, data) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
SELECT_SESSION = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM gatepass_sessions WHERE id_hash = $1"
)
SELECT_SESSION_BY_SID = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM gatepass_sessions WHERE sid = $1"
)
LIST_USER_SESSIONS = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM gatepass_sessions WHERE user_id = $1 "
    "AND LEAST(expires_at, last_seen_at + idle_ttl) > $2 ORDER BY created_at, sid"
)
DELETE_SESSION = (
    "DELETE FROM gatepass_sessions WHERE id_hash = $1 RETURNING id_hash, sid, user_id, "
    "created_at, last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
DELETE_SESSION_BY_SID = (
    "DELETE FROM gatepass_sessions WHERE sid = $1 RETURNING id_hash, sid, user_id, "
    "created_at, last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
DELETE_USER_SESSIONS = (
    "DELETE FROM gatepass_sessions WHERE user_id = $1 RETURNING id_hash, sid, user_id, "
    "created_at, last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
INSERT_FAMILY = (
    "INSERT INTO gatepass_families (family_id, user_id, created_at, expires_at, current_hash, "
    "generation, previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, "
    "audience, ip, user_agent, csrf_hash) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
)
SELECT_FAMILY = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM gatepass_families WHERE family_id = $1"
)
LOCK_FAMILY = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM gatepass_families WHERE family_id = $1 FOR UPDATE"
)
LIST_USER_FAMILIES = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM gatepass_families WHERE user_id = $1 AND NOT revoked "
    "AND expires_at > $2 ORDER BY created_at, family_id"
)
REVOKE_USER_FAMILIES = (
    "UPDATE gatepass_families SET revoked = true WHERE user_id = $1 AND NOT revoked "
    "AND expires_at > $2 RETURNING family_id, user_id, created_at, expires_at, current_hash, "
    "generation, previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, "
    "audience, ip, user_agent, csrf_hash"
)
ROTATE_FAMILY = (
    "UPDATE gatepass_families SET previous_hash = current_hash, current_hash = $1, "
    "sealed_successor = $2, rotated_at = $3, generation = generation + 1, last_used_at = $3 "
    "WHERE family_id = $4 AND current_hash = $5 AND NOT revoked"
)
IS_REVOKED = (
    "SELECT 1 FROM gatepass_revoked WHERE (kind = 'jti' AND value = $1) "
    "OR (kind = 'sid' AND value = $2) "
    "OR (kind = 'user' AND value = $3 AND not_before > $4) LIMIT 1"
)
UPSERT_REVOKED = (
    "INSERT INTO gatepass_revoked (kind, value, expires_at, not_before) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (kind, value) DO UPDATE SET "
    "expires_at = GREATEST(gatepass_revoked.expires_at, excluded.expires_at), "
    "not_before = GREATEST(gatepass_revoked.not_before, excluded.not_before)"
)
LOG_REVOCATION = (
    "INSERT INTO gatepass_revocation_log (kind, value, expires_at, not_before, created_at) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING seq"
)
REVOCATIONS_SINCE = (
    "SELECT seq, kind, value, expires_at, not_before, created_at FROM gatepass_revocation_log "
    "WHERE seq > $1 ORDER BY seq LIMIT $2"
)
LIST_AUDIT = (
    "SELECT id, action, outcome, created_at, user_id, sid, ip, user_agent, detail "
    "FROM gatepass_audit ORDER BY created_at DESC, id DESC LIMIT $1"
)
LIST_USER_AUDIT = (
    "SELECT id, action, outcome, created_at, user_id, sid, ip, user_agent, detail "
    "FROM gatepass_audit WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
)
THROTTLE_COUNT = (
    "SELECT count(*), min(ts) FROM gatepass_throttle WHERE key = $1 AND ts > $2 AND ts <= $3"
)
#: Purges whose deleted rows ``purge_expired`` counts (spent hashes go by cascade).
PURGES = (
    "DELETE FROM gatepass_sessions WHERE LEAST(expires_at, last_seen_at + idle_ttl) < $1",
    "DELETE FROM gatepass_families WHERE expires_at < $1",
    "DELETE FROM gatepass_revocation_log WHERE expires_at < $1",
    "DELETE FROM gatepass_throttle WHERE ts <= $1",
)
