"""Separation-based digital baseline: source coder + 5G LDPC + QAM, and its capacity bound."""

from semcom.codecs.digital import sourcecoders  # noqa: F401
from semcom.codecs.digital import hevc  # noqa: F401
from semcom.codecs.digital import separate  # noqa: F401
from semcom.codecs.digital import capacity  # noqa: F401
from semcom.codecs.digital import events  # noqa: F401
