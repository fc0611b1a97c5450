"""The HTTP API contract: the OpenAPI document and the server held to it."""
