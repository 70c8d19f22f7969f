"""The outbox relay: moves committed outbox rows to RabbitMQ, then removes them."""
