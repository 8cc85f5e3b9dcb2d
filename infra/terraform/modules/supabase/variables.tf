variable "organization_id" {
  description = "Supabase organization slug (dashboard URL or organization settings)."
  type        = string
}

variable "project_name" {
  description = "Name of the Supabase project."
  type        = string
}

variable "region" {
  description = "Supabase region of the project, e.g. eu-central-1; keep it close to the Cloud Run region."
  type        = string
}

variable "instance_size" {
  description = "Compute size of the project's database (e.g. small, medium, large)."
  type        = string
  default     = "small"
}

variable "database_password" {
  description = "Password of the project's postgres role; only used when the project is created."
  type        = string
  sensitive   = true
}

variable "site_url" {
  description = "Public base URL of the web client (the same value as CDP_PUBLIC_URL), without a trailing slash."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+$", var.site_url))
    error_message = "site_url must be an https:// origin without a path or trailing slash."
  }
}

variable "extra_redirect_urls" {
  description = "Further redirect targets Supabase Auth may send users to (e.g. a staging web client)."
  type        = list(string)
  default     = []
}

variable "jwt_expiry_seconds" {
  description = "Lifetime of Supabase access tokens in seconds (keep equal to CDP_ACCESS_TOKEN_TTL_SECS)."
  type        = number
  default     = 3600

  validation {
    condition     = var.jwt_expiry_seconds >= 300 && var.jwt_expiry_seconds <= 604800
    error_message = "jwt_expiry_seconds must be between 300 and 604800 (one week, Supabase's maximum)."
  }
}

variable "password_min_length" {
  description = "Minimum password length Supabase Auth accepts (keep equal to CDP_MIN_PASSWORD_LENGTH)."
  type        = number
  default     = 10
}

variable "disable_signup" {
  description = "Refuse self sign-up; platform users are invited by admins."
  type        = bool
  default     = true
}

variable "api_max_rows" {
  description = "Row limit of one Data API (PostgREST) response."
  type        = number
  default     = 1000
}

variable "database_allowed_cidrs" {
  description = "CIDR ranges allowed to connect to the database (Supabase network restrictions)."
  type        = list(string)
  default     = ["0.0.0.0/0", "::/0"]
}
