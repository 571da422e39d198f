"""Exceptions that mean "the user asked for something that cannot be done".

The command line turns every :class:`SnnrefError` into one ``snnref: error: <message>`` line on
stderr and exit status 2; the message must say what to do. Library callers can catch it as a
``ValueError`` (it is one).
"""

__all__ = ["SnnrefError"]


class SnnrefError(ValueError):
    """A user error with a message that says what to do (exit status 2 on the command line)."""
