"""Receiver back-ends (registry ``RECEIVERS``)."""

from semcom.receivers.base import Identity, Receiver  # noqa: F401
from semcom.receivers import edi, sdm  # noqa: F401
from semcom.receivers import unet_xattn  # noqa: F401
from semcom.receivers import stra  # noqa: F401
from semcom.receivers import ssdm  # noqa: F401
from semcom.receivers import diffevent  # noqa: F401
