output "public_endpoint" {
  description = "host:port of the database's public endpoint."
  value       = rediscloud_subscription_database.this.public_endpoint
}

output "private_endpoint" {
  description = "host:port of the database's private endpoint (reachable after VPC peering)."
  value       = rediscloud_subscription_database.this.private_endpoint
}

output "subscription_id" {
  description = "Id of the Redis Cloud subscription."
  value       = rediscloud_subscription.this.id
}

output "database_id" {
  description = "Id of the database inside the subscription."
  value       = rediscloud_subscription_database.this.db_id
}
