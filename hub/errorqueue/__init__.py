"""The error queue: what the hub refused (quarantine, dead letters), as an engineer works it."""
