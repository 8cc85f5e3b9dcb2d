# Hosting of `cdp` on Google Cloud Run: one image, three workloads (DESIGN §2).
#   - cdp-migrate  a Cloud Run job running `cdp migrate`; every release executes it once, and the
#                  server and worker are only updated after it has completed successfully.
#   - cdp-server   a Cloud Run service running `cdp serve`: gRPC over HTTP/2 end to end (port
#                  named h2c), grpc-web and the web client over HTTP/1.1 or HTTP/2 on the same port,
#                  health checked with gRPC health (grpc.health.v1).
#   - cdp-worker   a Cloud Run worker pool running `cdp worker`: no port, always-on CPU, any
#                  number of instances side by side (jobs are claimed with SKIP LOCKED).
# Every secret reaches the containers as a Secret Manager reference, never as a literal value.
#
# Provider: hashicorp/google (website/docs/r/ of the provider):
#   cloud_run_v2_service, cloud_run_v2_worker_pool, cloud_run_v2_job (run_execution_token is a
#   google-beta argument), secret_manager_secret(_version) with the write-only `secret_data_wo`
#   (Terraform >= 1.11), secret_manager_secret_iam_member, artifact_registry_repository.

locals {
  labels = {
    app         = "cdp"
    environment = var.environment
  }
  # Names of the secret variables: not secret themselves, so they may key resources.
  secret_names = nonsensitive(toset(keys(var.secret_env)))
  # DATABASE_URL -> cdp-database-url
  secret_ids = { for name in local.secret_names : name => "${var.name_prefix}-${replace(lower(name), "_", "-")}" }
}

resource "google_project_service" "required" {
  for_each = toset([
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
  ])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Where CI pushes the image (docs/deploy.md). Created before the first image exists:
#   terraform apply -target=module.server.google_artifact_registry_repository.images
resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = var.name_prefix
  format        = "DOCKER"
  description   = "Container images of the CDP (cdp serve | worker | migrate)."
  labels        = local.labels

  depends_on = [google_project_service.required]
}

# The identity of the three workloads: it may read its own secrets and nothing else.
resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-runtime"
  display_name = "CDP server, worker and migrations"

  depends_on = [google_project_service.required]
}

resource "google_secret_manager_secret" "env" {
  for_each = local.secret_names

  project   = var.project_id
  secret_id = local.secret_ids[each.key]
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.required]
}

# `secret_data_wo` is write-only: the value goes to Secret Manager and is never stored in the
# Terraform state or plan. Terraform cannot see a changed value, so a rotation bumps
# `rotation_counter`, which writes new versions; the services below reference the exact
# version, so a rotation also rolls out a new revision that reads it.
resource "google_secret_manager_secret_version" "env" {
  for_each = local.secret_names

  secret                 = google_secret_manager_secret.env[each.key].id
  secret_data_wo         = var.secret_env[each.key]
  secret_data_wo_version = var.rotation_counter
}

resource "google_secret_manager_secret_iam_member" "runtime" {
  for_each = local.secret_names

  project   = var.project_id
  secret_id = google_secret_manager_secret.env[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}

# --- Migrations: one execution per release, before the new server and worker -------------------

resource "google_cloud_run_v2_job" "migrate" {
  # run_execution_token is only in the google-beta provider.
  provider = google-beta

  project             = var.project_id
  name                = "${var.name_prefix}-migrate"
  location            = var.region
  labels              = local.labels
  deletion_protection = var.deletion_protection

  # A new token starts an execution when the job is created or updated, and the job only becomes
  # ready (so this resource only completes) when that execution has succeeded. The server and the
  # worker depend on this resource: a failed migration stops the release before either changes.
  run_execution_token = var.run_migrations_on_apply ? "r-${var.release_id}" : null

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.runtime.email
      timeout         = "${var.migrate_timeout_seconds}s"
      # A failed migration needs a person (docs/deploy.md, "Rolling back"); do not retry it.
      max_retries = 0

      containers {
        image = var.image
        args  = ["migrate"]

        dynamic "env" {
          for_each = var.env
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = local.secret_names
          content {
            name = env.value
            value_source {
              secret_key_ref {
                secret  = google_secret_manager_secret.env[env.value].secret_id
                version = google_secret_manager_secret_version.env[env.value].version
              }
            }
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.runtime]
}

# --- The API server ----------------------------------------------------------------------------

resource "google_cloud_run_v2_service" "server" {
  project             = var.project_id
  name                = "${var.name_prefix}-server"
  location            = var.region
  labels              = local.labels
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.runtime.email
    max_instance_request_concurrency = var.server_concurrency
    # Upper bound of one request, streaming RPCs included.
    timeout               = "${var.request_timeout_seconds}s"
    execution_environment = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = var.server_min_instances
      max_instance_count = var.server_max_instances
    }

    containers {
      name  = "server"
      image = var.image
      args  = ["serve"]

      # "h2c": Cloud Run forwards every request to the container as cleartext HTTP/2, which gRPC
      # needs end to end. Browsers may still reach the front end over HTTP/1.1 (grpc-web and the
      # web client), and tonic serves grpc-web over HTTP/2 as well. The image listens on
      # CDP_LISTEN_ADDR=0.0.0.0:8080.
      ports {
        name           = "h2c"
        container_port = 8080
      }

      dynamic "env" {
        for_each = var.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secret_names
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.env[env.value].secret_id
              version = google_secret_manager_secret_version.env[env.value].version
            }
          }
        }
      }

      resources {
        limits = {
          cpu    = var.server_cpu
          memory = var.server_memory
        }
        # The server does no background work (the worker does), so CPU may idle between requests.
        cpu_idle          = true
        startup_cpu_boost = true
      }

      # grpc.health.v1.Health/Check on the serving port; the empty service name is the server's
      # overall status, which `cdp serve` reports as SERVING once every service is registered.
      startup_probe {
        grpc {
          port = 8080
        }
        period_seconds    = 2
        timeout_seconds   = 1
        failure_threshold = 30
      }

      liveness_probe {
        grpc {
          port = 8080
        }
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 3
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  depends_on = [
    google_cloud_run_v2_job.migrate,
    google_secret_manager_secret_iam_member.runtime,
  ]
}

# The API authenticates every RPC itself (bearer JWTs, service credentials); browsers and
# internal services must reach it without Google identity tokens.
resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.public ? 1 : 0

  project  = var.project_id
  location = google_cloud_run_v2_service.server.location
  name     = google_cloud_run_v2_service.server.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- The job worker ----------------------------------------------------------------------------

resource "google_cloud_run_v2_worker_pool" "worker" {
  project             = var.project_id
  name                = "${var.name_prefix}-worker"
  location            = var.region
  labels              = local.labels
  deletion_protection = var.deletion_protection
  # Worker pools were a preview feature when this was written; the API reports GA once they are,
  # hence ignore_changes below (the pattern of the provider's own examples).
  launch_stage = "BETA"

  # Manual scaling (the default mode of worker pools): a fixed number of always-on workers.
  scaling {
    manual_instance_count = var.worker_instances
  }

  template {
    service_account = google_service_account.runtime.email

    containers {
      name  = "worker"
      image = var.image
      args  = ["worker"]

      dynamic "env" {
        for_each = var.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secret_names
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.env[env.value].secret_id
              version = google_secret_manager_secret_version.env[env.value].version
            }
          }
        }
      }

      resources {
        limits = {
          cpu    = var.worker_cpu
          memory = var.worker_memory
        }
      }
      # No probe: the worker listens on no port. A worker that exits is restarted by Cloud Run,
      # and a stuck job is reclaimed by another worker when its lease expires (CDP_JOB_LEASE_SECS).
    }
  }

  lifecycle {
    ignore_changes = [launch_stage]
  }

  depends_on = [
    google_cloud_run_v2_job.migrate,
    google_secret_manager_secret_iam_member.runtime,
  ]
}
