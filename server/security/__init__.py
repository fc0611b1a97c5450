"""Server-side security primitives: passwords, sealing, signatures, rate limits."""
