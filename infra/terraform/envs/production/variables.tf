# Inputs of the production environment. Values live in a terraform.tfvars that is never
# committed (see terraform.tfvars.example) and, for every secret, preferably in TF_VAR_* variables
# of the shell or CI job that runs Terraform (docs/deploy.md, "How secrets flow").

# --- Google Cloud ------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project that hosts the CDP."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run and of the Redis Cloud subscription, e.g. europe-west1."
  type        = string
}

# --- Release -----------------------------------------------------------------------------------

variable "image" {
  description = "The cdp image of this release, pinned by digest: REGION-docker.pkg.dev/PROJECT/cdp/cdp@sha256:..."
  type        = string
}

variable "release_id" {
  description = "Unique id of this release (e.g. <short git sha>-<CI run number>); a new one runs the migrations."
  type        = string
}

variable "run_migrations_on_apply" {
  description = "Run `cdp migrate` during apply, before the server and worker change."
  type        = bool
  default     = true
}

variable "public_url" {
  description = "Origin people open the web client at (CDP_PUBLIC_URL; Supabase Auth's site URL), e.g. https://cdp.example.com."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+$", var.public_url))
    error_message = "public_url must be an https:// origin without a path or trailing slash."
  }
}

# --- Supabase ----------------------------------------------------------------------------------

variable "supabase_organization_id" {
  description = "Supabase organization slug."
  type        = string
}

variable "supabase_project_name" {
  description = "Name of the Supabase project."
  type        = string
  default     = "cdp-production"
}

variable "supabase_region" {
  description = "Supabase region, close to var.region (e.g. eu-central-1 next to europe-west1/3)."
  type        = string
}

variable "supabase_instance_size" {
  description = "Compute size of the Supabase database."
  type        = string
  default     = "small"
}

variable "supabase_db_password" {
  description = "Password of the postgres role, used only if Terraform creates the project."
  type        = string
  sensitive   = true
}

variable "supabase_anon_key" {
  description = "The project's publishable (anon) key: SUPABASE_ANON_KEY."
  type        = string
  sensitive   = true
}

variable "supabase_service_role_key" {
  description = "The project's secret (service_role) key: SUPABASE_SERVICE_ROLE_KEY. Server side only."
  type        = string
  sensitive   = true
}

variable "database_url" {
  description = "DATABASE_URL: Supavisor session-mode connection string of the project (postgres://<user>.<project-ref>:<password>@<pooler-host>:5432/postgres)."
  type        = string
  sensitive   = true
}

variable "cdp_jwt_secret" {
  description = "CDP_JWT_SECRET: only for a project still on a shared HS256 JWT secret; null uses the project's JWKS."
  type        = string
  sensitive   = true
  default     = null
}

# --- The first super admin (optional; remove both after the first start) -----------------------

variable "bootstrap_admin_email" {
  description = "CDP_BOOTSTRAP_ADMIN_EMAIL: e-mail of the first super admin, created at start when none exists."
  type        = string
  default     = null
}

variable "bootstrap_admin_password" {
  description = "CDP_BOOTSTRAP_ADMIN_PASSWORD for that first super admin."
  type        = string
  sensitive   = true
  default     = null
}

# --- Integrations ------------------------------------------------------------------------------

variable "integration_secrets" {
  description = "Further secret environment of cdp by name, e.g. the Amplitude, Braze and Airflow credentials once the server reads them."
  type        = map(string)
  sensitive   = true
  default     = {}
}

variable "extra_env" {
  description = "Further plain (non-secret) environment of cdp by name."
  type        = map(string)
  default     = {}
}

variable "rotation_counter" {
  description = "Bump after changing any secret value: writes new Secret Manager versions and rolls the services onto them."
  type        = number
  default     = 1
}

# --- Redis Cloud -------------------------------------------------------------------------------

variable "redis_payment_method" {
  description = "credit-card or marketplace."
  type        = string
  default     = "credit-card"
}

variable "redis_payment_card_type" {
  description = "Card type of the Redis Cloud payment method (e.g. Visa) when paying by card."
  type        = string
  default     = null
}

variable "redis_payment_card_last_four" {
  description = "Last four digits of that card, if the account has several of the type."
  type        = string
  default     = null
}

variable "redis_dataset_size_in_gb" {
  description = "Maximum dataset size of the Redis database in GB."
  type        = number
  default     = 1
}

variable "redis_throughput_ops_per_second" {
  description = "Provisioned Redis throughput in operations per second."
  type        = number
  default     = 25000
}

variable "redis_password" {
  description = "Password of the Redis database's default user (at least 32 characters); it reaches cdp inside REDIS_URL."
  type        = string
  sensitive   = true
}

variable "redis_enable_tls" {
  description = "Require TLS to Redis (REDIS_URL then starts with rediss://)."
  type        = bool
  default     = true
}

# --- cdp tuning --------------------------------------------------------------------------------

variable "access_token_ttl_seconds" {
  description = "Access-token lifetime: CDP_ACCESS_TOKEN_TTL_SECS and Supabase's jwt_exp."
  type        = number
  default     = 3600
}

variable "min_password_length" {
  description = "CDP_MIN_PASSWORD_LENGTH and Supabase's password_min_length."
  type        = number
  default     = 10
}

variable "reporting_tz" {
  description = "CDP_REPORTING_TZ: time zone of day boundaries in every metric."
  type        = string
  default     = "UTC"
}

variable "database_pool_size" {
  description = "CDP_DATABASE_POOL_SIZE per process; (server_max_instances + worker_instances) x this must stay under the pooler's client limit."
  type        = number
  default     = 10
}

variable "worker_concurrency" {
  description = "CDP_WORKER_CONCURRENCY: jobs one worker runs at once."
  type        = number
  default     = 4
}

variable "server_min_instances" {
  description = "Server instances kept warm."
  type        = number
  default     = 1
}

variable "server_max_instances" {
  description = "Upper bound of server instances."
  type        = number
  default     = 10
}

variable "worker_instances" {
  description = "Worker instances."
  type        = number
  default     = 1
}

# --- Web client on Vercel (optional; off: the server serves it) --------------------------------

variable "web_on_vercel" {
  description = "Build and host the web client on Vercel instead of serving it from the server image."
  type        = bool
  default     = false
}

variable "vercel_project_name" {
  description = "Name of the Vercel project, when web_on_vercel."
  type        = string
  default     = "cdp-web"
}

variable "vercel_team_id" {
  description = "Vercel team that owns the project, when web_on_vercel."
  type        = string
  default     = null
}

variable "vercel_git_repository" {
  description = "GitHub repository (owner/name) Vercel builds from, when web_on_vercel."
  type        = string
  default     = null
}

variable "vercel_domain" {
  description = "Custom domain of the web client on Vercel; must be the host of public_url."
  type        = string
  default     = null
}

variable "api_public_url" {
  description = "Public https origin of the API (a custom domain in front of the Cloud Run service), required when web_on_vercel."
  type        = string
  default     = null

  validation {
    condition     = !var.web_on_vercel || (var.api_public_url != null && can(regex("^https://[^/]+$", coalesce(var.api_public_url, "-"))))
    error_message = "web_on_vercel needs api_public_url: the https origin of the API under the same registrable domain as public_url."
  }
}
