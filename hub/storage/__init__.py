"""The storage floor: the SQL engine, schema creation, log positions, leases and private files.

Every store builds on these; none of them knows a feature."""
