"""Image quality metrics (registry ``METRICS``): functional forms and modules.

``psnr``, ``ssim``, ``ms_ssim`` and ``dists`` are plain functions (one value per image);
``PSNR``, ``SSIM``, ``MSSSIM`` and ``DISTS`` are the registered modules ("psnr", "ssim",
"ms-ssim", "dists") that declare ``higher_is_better`` and ``unit``.
"""

from semcom.metrics import functional, modules  # noqa: F401  (fills the registry)
from semcom.metrics.functional import dists, ms_ssim, psnr, ssim
from semcom.metrics.modules import DISTS, MSSSIM, PSNR, SSIM, Metric, MetricUnavailable

__all__ = [
    "psnr", "ssim", "ms_ssim", "dists",
    "PSNR", "SSIM", "MSSSIM", "DISTS", "Metric", "MetricUnavailable",
]
