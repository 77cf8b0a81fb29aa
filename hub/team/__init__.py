"""The team-around-the-family feature (ADR 0013): the pure fold, its store, the views a reader
is sent, and who may name a practitioner to a team (ADR 0021)."""
