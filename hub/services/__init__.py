"""Use cases: what a route, a command or a timer asks of the hub, composed from the features' stores
and decisions. Each takes the stores and the reader it needs (never a request), so HTTP, the CLI
and the worker share one path."""
