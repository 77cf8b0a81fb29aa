"""Outgoing pushes of projection changes: Standard Webhooks subscriptions and Server-Sent
Events (ADR 0016). Every push goes through the one sharing decision and is on record first."""
