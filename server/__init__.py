"""witnesslink server package."""
