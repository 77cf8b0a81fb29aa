"""Connectors: pure translations from a source's format to case-events, plus their endpoints."""
