# Provider credentials come from the environment of whoever runs Terraform (a person or CI), never
# from variables, tfvars or the state (docs/deploy.md, "Credentials to run Terraform"):
#   google, google-beta  Application Default Credentials (gcloud auth application-default login,
#                        or workload identity federation in CI)
#   supabase             SUPABASE_ACCESS_TOKEN (a personal access token of the organization)
#   rediscloud           REDISCLOUD_ACCESS_KEY and REDISCLOUD_SECRET_KEY
#   vercel               VERCEL_API_TOKEN (only used when web_on_vercel = true)

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

provider "supabase" {}

provider "rediscloud" {}

provider "vercel" {
  team = var.vercel_team_id
}
