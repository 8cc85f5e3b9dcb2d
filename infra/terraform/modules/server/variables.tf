variable "project_id" {
  description = "Google Cloud project that hosts the CDP."
  type        = string
}

variable "region" {
  description = "Cloud Run region, e.g. europe-west1."
  type        = string
}

variable "environment" {
  description = "Name of the environment (a label on every resource)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name (cdp -> cdp-server, cdp-worker, cdp-migrate)."
  type        = string
  default     = "cdp"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.name_prefix))
    error_message = "name_prefix must be 2-15 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "image" {
  description = "Container image of cdp to run, preferably pinned by digest (REGION-docker.pkg.dev/PROJECT/cdp/cdp@sha256:...)."
  type        = string
}

variable "release_id" {
  description = "Identifier of this release (e.g. the short git commit plus the CI run number). A new value runs the migrations once before the server and worker change."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.release_id))
    error_message = "release_id must be 1-40 lowercase letters, digits or hyphens."
  }
}

variable "run_migrations_on_apply" {
  description = "Execute the migrate job during apply (needs the google-beta provider's run_execution_token). When false, run it by hand before deploying (docs/deploy.md)."
  type        = bool
  default     = true
}

variable "env" {
  description = "Plain (non-secret) environment of the server, worker and migrate job."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.env) : can(regex("^[A-Z][A-Z0-9_]*$", name))])
    error_message = "Environment variable names must be upper-case identifiers."
  }
}

variable "secret_env" {
  description = "Secret environment (name => value). Each one becomes a Secret Manager secret that the containers read by reference."
  type        = map(string)
  sensitive   = true
  default     = {}
}

variable "rotation_counter" {
  description = "Bump to write the current values of secret_env as new Secret Manager versions (rotation)."
  type        = number
  default     = 1
}

variable "public" {
  description = "Let anyone reach the server (the API authenticates every call itself)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to destroy the Cloud Run service, worker pool and job."
  type        = bool
  default     = true
}

variable "server_min_instances" {
  description = "Instances of the server kept warm (1 avoids cold starts on the first request)."
  type        = number
  default     = 1
}

variable "server_max_instances" {
  description = "Upper bound of server instances; keep max instances x CDP_DATABASE_POOL_SIZE under the database's connection limit."
  type        = number
  default     = 10
}

variable "server_concurrency" {
  description = "Concurrent requests per server instance."
  type        = number
  default     = 80
}

variable "server_cpu" {
  description = "CPU limit of a server instance."
  type        = string
  default     = "1"
}

variable "server_memory" {
  description = "Memory limit of a server instance."
  type        = string
  default     = "512Mi"
}

variable "request_timeout_seconds" {
  description = "Longest request the server may take, streaming RPCs included (Cloud Run allows up to 3600)."
  type        = number
  default     = 300
}

variable "worker_instances" {
  description = "Number of worker instances (they share the jobs table safely)."
  type        = number
  default     = 1
}

variable "worker_cpu" {
  description = "CPU limit of a worker instance."
  type        = string
  default     = "1"
}

variable "worker_memory" {
  description = "Memory limit of a worker instance."
  type        = string
  default     = "512Mi"
}

variable "migrate_timeout_seconds" {
  description = "Longest a migration run may take."
  type        = number
  default     = 900
}
