"""Where what arrives goes: the case-event topic when accepted, quarantine when refused.

Connectors, the API and the alert timers all put what they state through :mod:`hub.ingest.sink`."""
