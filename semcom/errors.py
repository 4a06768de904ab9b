"""Errors that mean "the user asked for something impossible" (reported in one line, exit 2)."""


class SemcomError(ValueError):
    """Bad input from a user: a malformed option, an unknown name, a missing file.

    The CLI prints ``semcom: error: <message>`` on one line and exits with status 2.
    It subclasses ``ValueError`` so library callers can catch either.
    """
