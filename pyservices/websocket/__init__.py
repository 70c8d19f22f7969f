"""The WebSocket service: pushes every processed task to every connected client."""
