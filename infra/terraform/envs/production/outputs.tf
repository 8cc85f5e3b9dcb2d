# Names and URLs only: no output carries a secret.

output "server_uri" {
  description = "Cloud Run URL of the API (and of the web client unless it is on Vercel)."
  value       = module.server.server_uri
}

output "web_url" {
  description = "Where people open the web client."
  value       = var.web_on_vercel ? one(module.web[*].url) : var.public_url
}

output "image_repository" {
  description = "Artifact Registry path CI pushes the cdp image to."
  value       = module.server.image_repository
}

output "migrate_job_name" {
  description = "Cloud Run job that runs `cdp migrate` (gcloud run jobs execute NAME --region REGION --wait)."
  value       = module.server.migrate_job_name
}

output "worker_pool_name" {
  description = "Cloud Run worker pool that runs `cdp worker`."
  value       = module.server.worker_pool_name
}

output "secret_ids" {
  description = "Secret Manager secret of each secret environment variable (names only)."
  value       = module.server.secret_ids
}

output "supabase_project_ref" {
  description = "Reference of the Supabase project."
  value       = module.supabase.project_ref
}

output "redis_endpoint" {
  description = "host:port of the Redis Cloud database (the password is only in Secret Manager's REDIS_URL)."
  value       = module.redis.public_endpoint
}
