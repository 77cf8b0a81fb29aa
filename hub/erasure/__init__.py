"""Erasure on an append-only log by crypto-shredding (ADR 0009, 0020, 0025).

``sealing`` (pure) seals a case-event with its subject's key; ``keystore`` holds and destroys the
keys (its tables and bulk statements in ``key_tables``), caching those read for one erasure
epoch (``key_cache``, pure); ``log`` frames sealed events and erasure markers for the case-event
topic, one at a time or a batch at once; ``wal`` truncates SQLite's write-ahead logs after an
erasure. The API through which a data protection officer erases a person is
``hub.http.erasure``.
"""
