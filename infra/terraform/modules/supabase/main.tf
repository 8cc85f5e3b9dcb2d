# The Supabase project that holds the CDP's PostgreSQL (the brief's backend) and Supabase Auth.
#
# Provider: supabase/supabase (https://supabase.com/docs/guides/deployment/terraform/reference).
# Resources used, as documented in the provider's docs/resources/*.md:
#   - supabase_project  (organization_id, name, database_password [sensitive], region, instance_size)
#   - supabase_settings (project_ref; api/auth/database/network as serialised JSON; the auth JSON is
#     the Management API's `updateV1AuthConfig` body: site_url, uri_allow_list, jwt_exp, ...)
#
# The production project already exists (the ETL loads public.users into it), so the first apply
# adopts it instead of creating one:
#   terraform import module.supabase.supabase_project.this <project_ref>
#   terraform import module.supabase.supabase_settings.this <project_ref>
# (docs/deploy.md, "First apply").

resource "supabase_project" "this" {
  organization_id   = var.organization_id
  name              = var.project_name
  region            = var.region
  instance_size     = var.instance_size
  database_password = var.database_password

  lifecycle {
    # The password is only used when a project is created; rotating it is done in the Supabase
    # dashboard and then in DATABASE_URL (docs/deploy.md, "Rotating secrets"). Terraform must
    # never try to change it, nor delete the database that holds production data.
    ignore_changes  = [database_password]
    prevent_destroy = true
  }
}

locals {
  # Where Supabase Auth may send people back to: the two pages the server builds links to
  # (server/src/auth/provider.rs: `{CDP_PUBLIC_URL}/accept-invite` and `/reset-password`).
  redirect_urls = concat(
    ["${var.site_url}/accept-invite", "${var.site_url}/reset-password"],
    var.extra_redirect_urls,
  )
}

resource "supabase_settings" "this" {
  project_ref = supabase_project.this.id

  # Supabase Auth (GoTrue). Field names are those of the Management API's auth config.
  auth = jsonencode({
    # Base URL of the web client: e-mail links and redirects are built from it.
    site_url = var.site_url
    # Comma-separated allow-list of redirect targets (GoTrue's GOTRUE_URI_ALLOW_LIST).
    uri_allow_list = join(",", local.redirect_urls)
    # Access-token lifetime in seconds; keep equal to CDP_ACCESS_TOKEN_TTL_SECS.
    jwt_exp = var.jwt_expiry_seconds
    # Platform users are invited by an admin (AuthService / PlatformUserService): nobody signs up
    # on their own. GoTrue's admin /invite endpoint does not consult this flag.
    disable_signup         = var.disable_signup
    external_email_enabled = true
    password_min_length    = var.password_min_length
  })

  # The Data API (PostgREST). The CDP's own schema `cdp` is deliberately not exposed: the browser
  # talks to the CDP server only and never holds a Supabase key (DESIGN §4).
  api = jsonencode({
    db_schema            = "public,storage,graphql_public"
    db_extra_search_path = "public,extensions"
    max_rows             = var.api_max_rows
  })

  # Which networks may open database connections. Cloud Run has no fixed egress address unless
  # it is routed through Cloud NAT, so the default stays open and password + TLS protect it;
  # narrow it to the NAT's addresses when one is configured.
  network = jsonencode({
    restrictions = var.database_allowed_cidrs
  })
}
