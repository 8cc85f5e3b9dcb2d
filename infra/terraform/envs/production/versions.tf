terraform {
  # 1.11: write-only arguments, so secret values are sent to Secret Manager without being stored
  # in the state or a saved plan.
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.0"
    }
    supabase = {
      source  = "supabase/supabase"
      version = "~> 1.0"
    }
    rediscloud = {
      source  = "RedisLabs/rediscloud"
      version = "~> 2.0"
    }
    vercel = {
      source  = "vercel/vercel"
      version = "~> 4.8"
    }
  }

  # Remote state in a GCS bucket (encrypted at rest, versioned, readable only by the people and
  # the CI identity that deploy). The state still holds a few provider-returned secrets (the
  # Redis Cloud and Supabase database passwords), so it never lives on a laptop or in git.
  # Bucket and prefix come from a partial configuration: terraform init -backend-config=backend.hcl
  backend "gcs" {}
}
