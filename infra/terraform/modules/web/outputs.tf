output "project_id" {
  description = "Id of the Vercel project."
  value       = vercel_project.web.id
}

output "url" {
  description = "Public URL of the web client."
  value       = var.domain == null ? "https://${vercel_project.web.name}.vercel.app" : "https://${var.domain}"
}
