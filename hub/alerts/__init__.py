"""The missed-appointment alerts feature: the pure fold, its tables and store, the change feed,
the timers that put clock decisions on the log, and release through the sharing gate."""
