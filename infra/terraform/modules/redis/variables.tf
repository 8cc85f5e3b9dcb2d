variable "subscription_name" {
  description = "Name of the Redis Cloud Pro subscription."
  type        = string
}

variable "database_name" {
  description = "Name of the Redis database inside the subscription."
  type        = string
}

variable "region" {
  description = "GCP region of the subscription; the same as the Cloud Run region."
  type        = string
}

variable "multiple_availability_zones" {
  description = "Spread the database's replicas over availability zones."
  type        = bool
  default     = true
}

variable "deployment_cidr" {
  description = "A /24 for Redis Cloud's own VPC; must not overlap any network it may be peered with."
  type        = string
  default     = "10.42.0.0/24"

  validation {
    condition     = can(cidrnetmask(var.deployment_cidr)) && endswith(var.deployment_cidr, "/24")
    error_message = "deployment_cidr must be an IPv4 /24."
  }
}

variable "payment_method" {
  description = "credit-card (then payment_card_* select the card) or marketplace (billed through GCP Marketplace)."
  type        = string
  default     = "credit-card"

  validation {
    condition     = contains(["credit-card", "marketplace"], var.payment_method)
    error_message = "payment_method must be credit-card or marketplace."
  }
}

variable "payment_card_type" {
  description = "Card type of the Redis Cloud payment method (e.g. Visa), when payment_method is credit-card."
  type        = string
  default     = null
}

variable "payment_card_last_four" {
  description = "Last four digits of that card, when the account has more than one of the type."
  type        = string
  default     = null
}

variable "dataset_size_in_gb" {
  description = "Maximum dataset size of the database in GB. 1M eligible users of a promotion take 125 KB as a bitmap."
  type        = number
  default     = 1
}

variable "throughput_ops_per_second" {
  description = "Provisioned throughput of the database in operations per second."
  type        = number
  default     = 25000
}

variable "password" {
  description = "Password of the database's default user; the server gets it inside REDIS_URL."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.password) >= 32
    error_message = "The Redis password must be at least 32 characters."
  }
}

variable "enable_tls" {
  description = "Require TLS from clients (then REDIS_URL uses rediss://)."
  type        = bool
  default     = true
}

variable "source_ips" {
  description = "CIDR ranges allowed to connect; empty follows the subscription's public access setting."
  type        = list(string)
  default     = []
}
