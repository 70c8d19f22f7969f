"""The API gateway: GraphQL over HTTP in front of the task service's gRPC contract."""
