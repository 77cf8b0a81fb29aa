"""Projections: pure folds from case-events to views, and the stores that keep them."""
