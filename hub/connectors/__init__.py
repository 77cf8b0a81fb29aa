"""Connectors: pure translations from a source's format to case-events, and their shells.

Two kinds on one protocol (read, then map; refuse with ``RecordError``; come to an
``Outcome``): batch connectors (:mod:`hub.connectors.sdk`: files and views, the extract
runtime, partner uploads and webhooks) and message connectors (:mod:`hub.connectors.messages`:
HL7 v2 over MLLP, FHIR over REST, one input at a time). ``docs/connectors.md`` has both.
"""
