"""The machinery projections run on: the one list of them (registry), the runner, resuming from
stored positions, rebuilding into fresh generations (replay), stalls and the watchdog. The
folds and stores themselves live in their feature folders (alerts, team, identity, sharing)."""
