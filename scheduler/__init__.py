"""witnesslink scheduler package."""
