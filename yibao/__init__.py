"""Shared plumbing: configuration, engine session, warehouse catalog, CLI."""
