"""The SQL of the SQLite store: schema and statements, as complete literals.

Nothing user-supplied is ever spliced into these strings; every value is a ``?``
parameter. Kept apart from :mod:`gatepass.stores.sqlite` so that module stays about
behaviour.
"""

from __future__ import annotations

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
        created_at REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS users_created ON users (created_at, id)",
    """CREATE TABLE IF NOT EXISTS sessions (
        id_hash TEXT PRIMARY KEY, sid TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
        created_at REAL NOT NULL, last_seen_at REAL NOT NULL, expires_at REAL NOT NULL,
        idle_ttl REAL NOT NULL, csrf_secret TEXT NOT NULL, ip TEXT, user_agent TEXT,
        data TEXT NOT NULL DEFAULT '{}') WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, created_at)",
    """CREATE TABLE IF NOT EXISTS families (
        family_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at REAL NOT NULL,
        expires_at REAL NOT NULL, current_hash TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0, previous_hash TEXT, rotated_at REAL,
        sealed_successor TEXT, last_used_at REAL, revoked INTEGER NOT NULL DEFAULT 0,
        scope TEXT NOT NULL DEFAULT '', audience TEXT, ip TEXT, user_agent TEXT,
        csrf_hash TEXT)""",
    "CREATE INDEX IF NOT EXISTS families_user ON families (user_id, created_at)",
    """CREATE TABLE IF NOT EXISTS spent_hashes (
        family_id TEXT NOT NULL REFERENCES families (family_id) ON DELETE CASCADE,
        hash TEXT NOT NULL, PRIMARY KEY (family_id, hash)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS revoked (
        kind TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL, not_before REAL,
        PRIMARY KEY (kind, value)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS revocation_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL,
        expires_at REAL NOT NULL, not_before REAL, created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS keys (
        seq INTEGER PRIMARY KEY, kid TEXT NOT NULL UNIQUE, alg TEXT NOT NULL,
        private_jwk TEXT NOT NULL, created_at REAL NOT NULL, status TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS throttle (
        id INTEGER PRIMARY KEY, key TEXT NOT NULL, ts REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS throttle_key ON throttle (key, ts)",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, outcome TEXT NOT NULL,
        created_at REAL NOT NULL, user_id TEXT, sid TEXT, ip TEXT, user_agent TEXT,
        detail TEXT)""",
    "CREATE INDEX IF NOT EXISTS audit_created ON audit (created_at, id)",
    "CREATE INDEX IF NOT EXISTS audit_user ON audit (user_id, created_at, id)",
)

# Every statement is a complete literal: nothing user-supplied is ever spliced into SQL.
INSERT_USER = (
    "INSERT INTO users (id, email, password_hash, created_at, disabled) VALUES (?, ?, ?, ?, ?)"
)
SELECT_USER = "SELECT id, email, password_hash, created_at, disabled FROM users WHERE id = ?"
SELECT_USER_BY_EMAIL = (
    "SELECT id, email, password_hash, created_at, disabled FROM users WHERE email = ?"
)
LIST_USERS = (
    "SELECT id, email, password_hash, created_at, disabled FROM users "
    "ORDER BY created_at, id LIMIT ? OFFSET ?"
)
INSERT_SESSION = (
    "INSERT INTO sessions (id_hash, sid, user_id, created_at, last_seen_at, expires_at, "
    "idle_ttl, csrf_secret, ip, user_agent, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_SESSION = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM sessions WHERE id_hash = ?"
)
SELECT_SESSION_BY_SID = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM sessions WHERE sid = ?"
)
LIST_USER_SESSIONS = (
    "SELECT id_hash, sid, user_id, created_at, last_seen_at, expires_at, idle_ttl, "
    "csrf_secret, ip, user_agent, data FROM sessions WHERE user_id = ? "
    "AND MIN(expires_at, last_seen_at + idle_ttl) > ? ORDER BY created_at, sid"
)
DELETE_SESSION = (
    "DELETE FROM sessions WHERE id_hash = ? RETURNING id_hash, sid, user_id, created_at, "
    "last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
DELETE_SESSION_BY_SID = (
    "DELETE FROM sessions WHERE sid = ? RETURNING id_hash, sid, user_id, created_at, "
    "last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
DELETE_USER_SESSIONS = (
    "DELETE FROM sessions WHERE user_id = ? RETURNING id_hash, sid, user_id, created_at, "
    "last_seen_at, expires_at, idle_ttl, csrf_secret, ip, user_agent, data"
)
INSERT_FAMILY = (
    "INSERT INTO families (family_id, user_id, created_at, expires_at, current_hash, "
    "generation, previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, "
    "audience, ip, user_agent, csrf_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_FAMILY = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM families WHERE family_id = ?"
)
LIST_USER_FAMILIES = (
    "SELECT family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash FROM families WHERE user_id = ? AND revoked = 0 AND expires_at > ? "
    "ORDER BY created_at, family_id"
)
REVOKE_USER_FAMILIES = (
    "UPDATE families SET revoked = 1 WHERE user_id = ? AND revoked = 0 AND expires_at > ? "
    "RETURNING family_id, user_id, created_at, expires_at, current_hash, generation, "
    "previous_hash, rotated_at, sealed_successor, last_used_at, revoked, scope, audience, ip, "
    "user_agent, csrf_hash"
)
ROTATE_FAMILY = (
    "UPDATE families SET previous_hash = current_hash, current_hash = ?, sealed_successor = ?, "
    "rotated_at = ?, generation = generation + 1, last_used_at = ? "
    "WHERE family_id = ? AND current_hash = ? AND revoked = 0"
)
IS_REVOKED = (
    "SELECT 1 FROM revoked WHERE (kind = 'jti' AND value = ?) OR (kind = 'sid' AND value = ?) "
    "OR (kind = 'user' AND value = ? AND not_before > ?) LIMIT 1"
)
UPSERT_REVOKED = (
    "INSERT INTO revoked (kind, value, expires_at, not_before) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (kind, value) DO UPDATE SET "
    "expires_at = MAX(expires_at, excluded.expires_at), "
    "not_before = MAX(not_before, excluded.not_before)"
)
LOG_REVOCATION = (
    "INSERT INTO revocation_log (kind, value, expires_at, not_before, created_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
REVOCATIONS_SINCE = (
    "SELECT seq, kind, value, expires_at, not_before, created_at FROM revocation_log "
    "WHERE seq > ? ORDER BY seq LIMIT ?"
)
INSERT_KEY = "INSERT INTO keys (kid, alg, private_jwk, created_at, status) VALUES (?, ?, ?, ?, ?)"
LIST_KEYS = "SELECT kid, alg, private_jwk, created_at, status FROM keys ORDER BY created_at, seq"
INSERT_AUDIT = (
    "INSERT INTO audit (action, outcome, created_at, user_id, sid, ip, user_agent, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
LIST_AUDIT = (
    "SELECT id, action, outcome, created_at, user_id, sid, ip, user_agent, detail FROM audit "
    "ORDER BY created_at DESC, id DESC LIMIT ?"
)
LIST_USER_AUDIT = (
    "SELECT id, action, outcome, created_at, user_id, sid, ip, user_agent, detail FROM audit "
    "WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
)
THROTTLE_COUNT = "SELECT COUNT(*), MIN(ts) FROM throttle WHERE key = ? AND ts > ? AND ts <= ?"
#: Purges whose deleted rows are counted by ``purge_expired``.
PURGES = (
    "DELETE FROM sessions WHERE MIN(expires_at, last_seen_at + idle_ttl) < ?",
    "DELETE FROM families WHERE expires_at < ?",
    "DELETE FROM revocation_log WHERE expires_at < ?",
    "DELETE FROM throttle WHERE ts <= ?",
)
