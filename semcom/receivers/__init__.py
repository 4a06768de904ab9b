"""Receiver back-ends (registry ``RECEIVERS``)."""

from semcom.receivers.base import Identity, Receiver  # noqa: F401
