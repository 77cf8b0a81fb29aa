"""A statutory partner's practitioner names (or stops naming) a practitioner to the team around
a person or family through the API (ADR 0021)."""
