-- 0003_admin_scope.sql — tenant-scoped administration (issue 17, item 1).
--
-- Owners: an agent or tool with owner_tenant_id NULL is the platform catalog (the operator
-- manages it; every tenant may be given it by a permission). One with an owner belongs to that
-- tenant: only that tenant's admin sees and changes it, and the router's and agents' loading
-- queries never hand it to another tenant, whatever a permission row says.
ALTER TABLE agent_configs
    ADD COLUMN owner_tenant_id text REFERENCES tenants (tenant_id) ON DELETE CASCADE;
ALTER TABLE tool_configs
    ADD COLUMN owner_tenant_id text REFERENCES tenants (tenant_id) ON DELETE CASCADE;
CREATE INDEX idx_agent_configs_owner ON agent_configs (owner_tenant_id)
    WHERE owner_tenant_id IS NOT NULL;
CREATE INDEX idx_tool_configs_owner ON tool_configs (owner_tenant_id)
    WHERE owner_tenant_id IS NOT NULL;

-- Key binding: the endpoint a stored provider key was given for, "provider|base_url" (base_url
-- empty = the provider's default). llm/config.c compares its origin (scheme, host, port) with
-- the endpoint the key would be sent to now and refuses the key when they differ (e.g. the
-- operator changed llm_models.base_url). Existing keys are bound to where they are used today.
ALTER TABLE tenant_llm_configs
    ADD COLUMN api_key_endpoint text,
    ADD COLUMN embedding_api_key_endpoint text;
UPDATE tenant_llm_configs c
   SET api_key_endpoint = m.provider || '|' || COALESCE(m.base_url, '')
  FROM llm_models m
 WHERE m.model_id = c.model_id AND c.encrypted_api_key IS NOT NULL;
UPDATE tenant_llm_configs c
   SET embedding_api_key_endpoint = c.embedding_provider || '|' ||
       COALESCE(c.embedding_base_url,
                CASE WHEN c.embedding_provider = m.provider THEN m.base_url END, '')
  FROM llm_models m
 WHERE m.model_id = c.model_id AND c.encrypted_embedding_api_key IS NOT NULL
   AND c.embedding_provider IS NOT NULL;

-- Whenever a key is set (a new ciphertext; Fernet tokens differ even for the same key), it is
-- bound to the endpoint of the row's model at that moment; a cleared key loses its binding.
-- Done here, not by each writer, so that no path (the admin API, the demo seed, a DBA) can
-- store a key without its binding. Changing the model alone keeps the old binding, so the key
-- is then refused until it is supplied again.
CREATE FUNCTION tenant_llm_key_bind() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prov text;
    base text;
BEGIN
    SELECT m.provider, m.base_url INTO prov, base FROM llm_models m WHERE m.model_id = NEW.model_id;
    IF NEW.encrypted_api_key IS NULL THEN
        NEW.api_key_endpoint := NULL;
    ELSIF TG_OP = 'INSERT' OR NEW.encrypted_api_key IS DISTINCT FROM OLD.encrypted_api_key THEN
        NEW.api_key_endpoint := prov || '|' || COALESCE(base, '');
    END IF;
    IF NEW.encrypted_embedding_api_key IS NULL OR NEW.embedding_provider IS NULL THEN
        NEW.embedding_api_key_endpoint := NULL;
    ELSIF TG_OP = 'INSERT'
          OR NEW.encrypted_embedding_api_key IS DISTINCT FROM OLD.encrypted_embedding_api_key THEN
        NEW.embedding_api_key_endpoint := NEW.embedding_provider || '|' ||
            COALESCE(NEW.embedding_base_url,
                     CASE WHEN NEW.embedding_provider = prov THEN base END, '');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tenant_llm_key_bind BEFORE INSERT OR UPDATE ON tenant_llm_configs
    FOR EACH ROW EXECUTE FUNCTION tenant_llm_key_bind();

-- Audit log of admin writes (operator and tenant admin): who, what, when. Never a body or a
-- secret: the route, the resource id and the answer's status only.
CREATE TABLE admin_audit (
    audit_id     bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_kind   text NOT NULL CHECK (actor_kind IN ('operator', 'tenant_admin')),
    actor_sub    text NOT NULL,
    actor_tenant text,                 -- the tenant admin's tenant (NULL for the operator)
    tenant_id    text,                 -- the tenant the write concerned, when there is one
    method       text NOT NULL,
    route        text NOT NULL,        -- the path, e.g. /api/admin/tenants/acme/llm-config
    resource_id  text,
    status       integer NOT NULL,
    request_id   text
);
CREATE INDEX idx_admin_audit_tenant_at ON admin_audit (tenant_id, at DESC);
CREATE INDEX idx_admin_audit_at ON admin_audit (at DESC);
