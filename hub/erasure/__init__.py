"""Erasure on an append-only log by crypto-shredding (ADR 0009).

``sealing`` (pure) seals a case-event with its subject's key; ``keystore`` holds and destroys the
keys; ``log`` frames sealed events and erasure markers for the case-event topic; ``routes`` is the
API through which a data protection officer erases a person.
"""
