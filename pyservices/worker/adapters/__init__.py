"""The worker's I/O: RabbitMQ deliveries, the task service's gRPC stream, the binconv kernel."""
