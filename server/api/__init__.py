"""The HTTP and WebSocket API: thin handlers over the domain services."""
