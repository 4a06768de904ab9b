"""Channels (registry ``CHANNELS``): complex baseband, Es = 1, snr_db = 10 log10(Es/N0)."""

from semcom.channels.base import Channel, ChannelOutput  # noqa: F401
from semcom.channels import awgn, ideal, rayleigh  # noqa: F401,E401  (registers awgn, none, rayleigh)
