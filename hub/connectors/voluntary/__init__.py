"""Voluntary and community sector: programme activity by CSV upload or signed webhook."""
