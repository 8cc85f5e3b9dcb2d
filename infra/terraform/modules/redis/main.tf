# Redis for the activation engine: eligibility state, counters, rate limits and Pub/Sub
# (DESIGN §6). A Redis Cloud Pro subscription on GCP next to the Cloud Run region, and one
# database in it.
#
# Provider: RedisLabs/rediscloud (docs/resources/rediscloud_subscription.md,
# rediscloud_subscription_database.md, docs/data-sources/rediscloud_payment_method.md).
# Credentials come from REDISCLOUD_ACCESS_KEY / REDISCLOUD_SECRET_KEY in the environment of
# whoever runs Terraform, never from a variable or a file.

data "rediscloud_payment_method" "card" {
  count = var.payment_method == "credit-card" ? 1 : 0

  card_type         = var.payment_card_type
  last_four_numbers = var.payment_card_last_four
}

resource "rediscloud_subscription" "this" {
  name              = var.subscription_name
  payment_method    = var.payment_method
  payment_method_id = var.payment_method == "credit-card" ? data.rediscloud_payment_method.card[0].id : null
  memory_storage    = "ram"

  cloud_provider {
    provider = "GCP"
    region {
      region                       = var.region
      multiple_availability_zones  = var.multiple_availability_zones
      networking_deployment_cidr   = var.deployment_cidr
      preferred_availability_zones = []
    }
  }

  # Only read when the subscription is created (the provider then replaces the planned database
  # by the one below).
  creation_plan {
    dataset_size_in_gb           = var.dataset_size_in_gb
    quantity                     = 1
    replication                  = true
    throughput_measurement_by    = "operations-per-second"
    throughput_measurement_value = var.throughput_ops_per_second
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "rediscloud_subscription_database" "this" {
  subscription_id              = rediscloud_subscription.this.id
  name                         = var.database_name
  dataset_size_in_gb           = var.dataset_size_in_gb
  throughput_measurement_by    = "operations-per-second"
  throughput_measurement_value = var.throughput_ops_per_second
  replication                  = true

  # Eligibility bitmaps and redemption counters expire with their promotion (they carry a TTL),
  # so an LRU policy on volatile keys would silently drop live promotions under memory
  # pressure. Refuse writes instead: the worker retries and the alert below fires first.
  data_eviction = "noeviction"
  # PostgreSQL is the record and Redis can be rebuilt from it (docs/runbook), but a restart
  # should not force a rebuild: append-only file, fsync every second.
  data_persistence = "aof-every-1-second"

  # The server speaks the plain Redis protocol with hash-tagged keys (`cdp:{promo:42}:...`),
  # which keeps the door open to the OSS Cluster API without turning it on now.
  support_oss_cluster_api = false

  password            = var.password
  enable_tls          = var.enable_tls
  source_ips          = length(var.source_ips) > 0 ? var.source_ips : null
  enable_default_user = true

  alert {
    name  = "dataset-size"
    value = 80
  }
  alert {
    name  = "throughput-higher-than"
    value = floor(var.throughput_ops_per_second * 0.8)
  }

  lifecycle {
    prevent_destroy = true
  }
}
