variable "project_name" {
  description = "Name of the Vercel project."
  type        = string
}

variable "team_id" {
  description = "Vercel team that owns the project (null: the provider's default team or a personal account)."
  type        = string
  default     = null
}

variable "git_repository" {
  description = "GitHub repository (owner/name) Vercel builds from; null to deploy with the Vercel CLI instead."
  type        = string
  default     = null
}

variable "production_branch" {
  description = "Branch whose commits become production deployments."
  type        = string
  default     = "main"
}

variable "domain" {
  description = "Custom domain of the web client, e.g. cdp.example.com (needed for the session cookie; see main.tf)."
  type        = string
  default     = null
}

variable "api_url" {
  description = "Public https origin of the CDP API, e.g. https://api.cdp.example.com."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+$", var.api_url))
    error_message = "api_url must be an https:// origin without a path or trailing slash."
  }
}
