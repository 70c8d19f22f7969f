"""The local stack for development: PostgreSQL, RabbitMQ and the five services as local
processes (`python -m devstack up`). Not part of the wheel: the image holds only the services."""
