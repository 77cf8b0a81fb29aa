"""Programme monitoring and outcomes (issue 20, ADR 0031): the fold, the figures, disclosure
control, and the store of the outcomes projection."""
