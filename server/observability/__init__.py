"""What an operator watches: request ids and structured logs, Prometheus metrics, SMS
delivery health and the start-up warnings about missing production settings."""
