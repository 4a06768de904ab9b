"""Codecs (registry ``CODECS``): learned JSCC, analog and digital baselines."""

from semcom.codecs.base import Codec, Reception, Transmission  # noqa: F401
from semcom.codecs import softcast  # noqa: F401
from semcom.codecs import deepjscc  # noqa: F401
from semcom.codecs import digital  # noqa: F401
from semcom.codecs import evjscc  # noqa: F401
from semcom.codecs import spjscc  # noqa: F401
