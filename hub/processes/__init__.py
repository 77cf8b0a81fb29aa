"""The hub's long-running processes: the worker, the ``hub run`` supervisor and the demo data."""
