"""Real-time delivery: WebSocket connections per device and the cross-instance bus."""
