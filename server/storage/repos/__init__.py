"""SQL implementations of the repository protocols, one module per area."""
