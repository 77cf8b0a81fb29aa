"""Sharing: the data-sharing agreement, consent and override facts, the one decision function,
and the disclosure log every outgoing path writes to."""
