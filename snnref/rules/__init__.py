"""Backward rules; called through :func:`snnref.backward` (see :data:`snnref.backward.RULES`)."""
