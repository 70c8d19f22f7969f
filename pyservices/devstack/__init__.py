"""The local stack: PostgreSQL, RabbitMQ and the five services as local processes."""
