"""Identity: one hub person behind many source identifiers, and families of persons."""
