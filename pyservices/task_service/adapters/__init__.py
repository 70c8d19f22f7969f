"""The Task Service's I/O: PostgreSQL (asyncpg) and the gRPC server."""
