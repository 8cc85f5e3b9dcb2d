output "server_uri" {
  description = "URL Cloud Run serves the API (and, unless the web client is on Vercel, the UI) on."
  value       = google_cloud_run_v2_service.server.uri
}

output "server_name" {
  description = "Name of the Cloud Run service running `cdp serve`."
  value       = google_cloud_run_v2_service.server.name
}

output "worker_pool_name" {
  description = "Name of the Cloud Run worker pool running `cdp worker`."
  value       = google_cloud_run_v2_worker_pool.worker.name
}

output "migrate_job_name" {
  description = "Name of the Cloud Run job running `cdp migrate`."
  value       = google_cloud_run_v2_job.migrate.name
}

output "runtime_service_account" {
  description = "Service account the three workloads run as."
  value       = google_service_account.runtime.email
}

output "image_repository" {
  description = "Artifact Registry path CI pushes the cdp image to."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "secret_ids" {
  description = "Secret Manager secret of each secret environment variable (names only, never values)."
  value       = local.secret_ids
}
