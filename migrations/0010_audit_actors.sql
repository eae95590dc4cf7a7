-- 0010: the audit log records every attempt at an admin write, not only an admin's.
--
-- 'user': a tenant user without the admin role tried an admin write and was refused (403);
-- 'cli':  agenthubctl wrote directly in the database (api-keys create / revoke), actor_sub
--         naming the operating-system user who ran it.
-- An unauthenticated request (401) has no actor and is not recorded.
ALTER TABLE admin_audit DROP CONSTRAINT admin_audit_actor_kind_check;
ALTER TABLE admin_audit ADD CONSTRAINT admin_audit_actor_kind_check
    CHECK (actor_kind IN ('operator', 'tenant_admin', 'user', 'cli'));
