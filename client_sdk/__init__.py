"""witnesslink client_sdk package."""
