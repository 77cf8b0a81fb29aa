"""The tabular connector: CSV and .xlsx tables mapped to case-events by configuration alone."""
