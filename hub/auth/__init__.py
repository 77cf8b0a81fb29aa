"""Partner authentication (ADR 0012): who is calling, proved, before the policy decides.

``credentials`` (pure) makes, hashes and reads API keys and access tokens; ``assertions`` (pure)
checks NHS-England-style signed-JWT client assertions; ``store`` keeps registered clients, key
and token hashes and spent assertion ids in SQL; ``routes`` is ``POST /oauth2/token``; ``cli``
is ``hub clients``. :func:`hub.http.dependencies.reader_identity` turns a request into a recipient.
"""
