DROP TABLE IF EXISTS cdp.audit_log, cdp.service_credentials, cdp.auth_tokens, cdp.platform_users,
  cdp.role_permissions, cdp.permissions, cdp.roles CASCADE;
DROP FUNCTION IF EXISTS cdp.has_permission(text);
DROP FUNCTION IF EXISTS cdp.audit_log_is_append_only();
