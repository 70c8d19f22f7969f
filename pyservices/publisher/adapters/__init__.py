"""The relay's I/O: PostgreSQL (outbox rows, LISTEN/NOTIFY) and RabbitMQ (confirmed publishes)."""
