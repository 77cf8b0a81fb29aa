"""Think Family Hub: an event-sourced integration hub for multi-agency family support."""

__version__ = "0.1.0"
