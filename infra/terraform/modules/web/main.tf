# Optional: the web client as a static site on Vercel, built from the repository.
#
# By default the production image serves the built web client itself (CDP_WEB_DIST_DIR) on the
# API's origin, and this module is not used (envs/production: web_on_vercel = false). See
# docs/deploy.md, "Where the web client is served", for the trade-off; in short, on Vercel the
# UI and the API are two origins, so the API must allow the UI's origin (CORS), and both must be
# custom domains under one registrable domain (e.g. cdp.example.com and api.cdp.example.com),
# because the session's refresh cookie is SameSite=Strict.
#
# Provider: vercel/vercel (docs/resources/project.md, project_domain.md,
# project_environment_variable.md). Credentials: VERCEL_API_TOKEN in the environment of whoever
# runs Terraform.

resource "vercel_project" "web" {
  name    = var.project_name
  team_id = var.team_id

  # The build needs the repository root: the TypeScript stubs are generated from proto/ with the
  # pinned buf in tools/buf before the client is built (client-web/scripts/generate.mjs).
  framework        = null
  install_command  = "npm ci --prefix tools/buf --no-audit --no-fund && npm ci --prefix client-web --no-audit --no-fund"
  build_command    = "npm run build --prefix client-web"
  output_directory = "client-web/dist"

  git_repository = var.git_repository == null ? null : {
    type              = "github"
    repo              = var.git_repository
    production_branch = var.production_branch
  }

  # Preview deployments are for the team only.
  vercel_authentication = {
    deployment_type = "standard_protection"
  }
}

resource "vercel_project_domain" "web" {
  count = var.domain == null ? 0 : 1

  project_id = vercel_project.web.id
  team_id    = var.team_id
  domain     = var.domain
}

# The API's public URL, compiled into the bundle at build time (client-web/src/api/config.ts).
# Not a secret: every browser that loads the UI sees it.
resource "vercel_project_environment_variable" "api_url" {
  project_id = vercel_project.web.id
  team_id    = var.team_id
  key        = "VITE_CDP_API_URL"
  value      = var.api_url
  target     = ["production"]
  sensitive  = false
  comment    = "Public base URL of the CDP API (grpc-web); set by Terraform."
}
