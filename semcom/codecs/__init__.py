"""Codecs (registry ``CODECS``): learned JSCC, analog and digital baselines."""

from semcom.codecs.base import Codec, Reception, Transmission  # noqa: F401
