output "project_ref" {
  description = "Reference (id) of the Supabase project."
  value       = supabase_project.this.id
}

output "api_url" {
  description = "Base URL of the project's APIs (SUPABASE_URL); the Auth API lives under /auth/v1."
  value       = "https://${supabase_project.this.id}.supabase.co"
}
