-- Tenant API keys for server-to-server callers (ingress/keyauth.h, common/apikey.h).
--
-- A key is "ahk_<key_id>_<secret>": key_id (16 hex) finds the row, the secret (43 base64url
-- characters, 256 bits from the CSPRNG) is never stored: key_hash is the SHA-256 (hex) of the
-- whole key. Shown once at creation. A key acts as the user "apikey:<key_id>" of its tenant,
-- with its roles ("admin" makes it its tenant's admin). revoked_at / expires_at refuse it;
-- last_used_at is written at most once a minute per key and ingress process.
CREATE TABLE api_keys (
    key_id       text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    tenant_id    text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_hash     text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    roles        text[] NOT NULL DEFAULT '{}',
    created_by   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX idx_api_keys_tenant ON api_keys (tenant_id, created_at DESC);
