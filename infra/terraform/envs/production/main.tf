# Production: Supabase (PostgreSQL + Auth), Redis Cloud, and `cdp` on Cloud Run (server, worker,
# migrations). The web client is served by the server from the same image and origin unless
# web_on_vercel is set. Order of a release, secrets and rollback: docs/deploy.md.

locals {
  environment = "production"

  redis_scheme = var.redis_enable_tls ? "rediss" : "redis"
  # The default user of the Redis Cloud database; the password is percent-encoded into the URL.
  redis_url = "${local.redis_scheme}://default:${urlencode(var.redis_password)}@${module.redis.public_endpoint}/0"

  # Plain configuration of cdp (the names are those of .env.example).
  env = merge(
    {
      CDP_PUBLIC_URL            = var.public_url
      CDP_AUTH_PROVIDER         = "supabase"
      SUPABASE_URL              = module.supabase.api_url
      CDP_JWT_AUDIENCE          = "authenticated"
      CDP_ACCESS_TOKEN_TTL_SECS = tostring(var.access_token_ttl_seconds)
      CDP_MIN_PASSWORD_LENGTH   = tostring(var.min_password_length)
      CDP_DATABASE_POOL_SIZE    = tostring(var.database_pool_size)
      CDP_WORKER_CONCURRENCY    = tostring(var.worker_concurrency)
      CDP_REPORTING_TZ          = var.reporting_tz
      CDP_LOG_FORMAT            = "json"
    },
    { for name, value in local.optional_env : name => value if value != null },
    var.extra_env,
  )
  # Left out when null. On Vercel the UI is another origin: the API must allow it, and need not
  # serve the UI (an empty CDP_WEB_DIST_DIR turns the image's copy off).
  optional_env = {
    CDP_BOOTSTRAP_ADMIN_EMAIL = var.bootstrap_admin_email
    CDP_CORS_ALLOWED_ORIGINS  = var.web_on_vercel ? var.public_url : null
    CDP_WEB_DIST_DIR          = var.web_on_vercel ? "" : null
  }

  # Secret configuration: each entry becomes a Secret Manager secret read by reference. The
  # names key resources, so they must be known when planning: only inputs known then (variables,
  # not the Redis endpoint) are filtered.
  secret_env = merge(
    {
      DATABASE_URL              = var.database_url
      REDIS_URL                 = local.redis_url
      SUPABASE_ANON_KEY         = var.supabase_anon_key
      SUPABASE_SERVICE_ROLE_KEY = var.supabase_service_role_key
    },
    { for name, value in local.optional_secret_env : name => value if value != null },
    var.integration_secrets,
  )
  optional_secret_env = {
    # Only with a shared HS256 secret; with Supabase's signing keys the server verifies tokens
    # against the project's JWKS (its default when SUPABASE_URL is set and this is not).
    CDP_JWT_SECRET               = var.cdp_jwt_secret
    CDP_BOOTSTRAP_ADMIN_PASSWORD = var.bootstrap_admin_password
  }
}

module "supabase" {
  source = "../../modules/supabase"

  organization_id     = var.supabase_organization_id
  project_name        = var.supabase_project_name
  region              = var.supabase_region
  instance_size       = var.supabase_instance_size
  database_password   = var.supabase_db_password
  site_url            = var.public_url
  jwt_expiry_seconds  = var.access_token_ttl_seconds
  password_min_length = var.min_password_length
}

module "redis" {
  source = "../../modules/redis"

  subscription_name         = "cdp-${local.environment}"
  database_name             = "cdp-${local.environment}"
  region                    = var.region
  payment_method            = var.redis_payment_method
  payment_card_type         = var.redis_payment_card_type
  payment_card_last_four    = var.redis_payment_card_last_four
  dataset_size_in_gb        = var.redis_dataset_size_in_gb
  throughput_ops_per_second = var.redis_throughput_ops_per_second
  password                  = var.redis_password
  enable_tls                = var.redis_enable_tls
}

module "server" {
  source = "../../modules/server"

  project_id              = var.project_id
  region                  = var.region
  environment             = local.environment
  image                   = var.image
  release_id              = var.release_id
  run_migrations_on_apply = var.run_migrations_on_apply
  env                     = local.env
  secret_env              = local.secret_env
  rotation_counter        = var.rotation_counter
  server_min_instances    = var.server_min_instances
  server_max_instances    = var.server_max_instances
  worker_instances        = var.worker_instances
}

module "web" {
  source = "../../modules/web"
  count  = var.web_on_vercel ? 1 : 0

  project_name   = var.vercel_project_name
  team_id        = var.vercel_team_id
  git_repository = var.vercel_git_repository
  domain         = var.vercel_domain
  api_url        = var.api_public_url
}
