"""Parts of S-SDM (self-supervised spike-guided deblurring, SpikeReveal Sec. 3.3 and supplement A.2):
the blind-spot denoiser of the spike frames (:class:`BlindSpotNet`) and the reblur loss that lets the
light deblurring network learn without sharp frames (:func:`reblur_loss`).  The cascade (SR network,
LDN, distillation) and its receiver are still to come (issue 20).

**Blind spot.** The network must estimate each pixel from its neighbours only, so that trained to
reproduce its noisy input (SpikeReveal Eq. 9) it cannot copy the pixel and learns its expected value
(the noise being independent from pixel to pixel).  As in the supplement (after Laine et al. 2019): the
input is rotated four times; one branch of *shifted* convolutions (each sees its own row and the rows
above it, never below) runs on each rotation, its output is shifted down by one row (so a pixel sees
only rows strictly above it) and rotated back; a 1x1 merge of the four half-planes gives a receptive
field of everything but the centre pixel.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from semcom.colour import linear_to_srgb

__all__ = ["BlindSpotNet", "reblur_loss"]


class _UpConv(nn.Conv2d):
    """A ``k x k`` convolution whose output at row ``i`` sees input rows ``i - k + 1 .. i`` only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0]
        return super().forward(F.pad(x, (k // 2, k // 2, k - 1, 0)))


class BlindSpotNet(nn.Module):
    """Blind-spot denoiser: four rotated half-plane branches (shared weights) merged by 1x1 convolutions.

    Args:
        channels: input and output channels (1 for a spike accumulation frame).
        width: feature channels of a branch.
        depth: shifted 3x3 convolutions per branch (the receptive field reaches ``depth + 1`` rows out).
    """

    def __init__(self, *, channels: int = 1, width: int = 32, depth: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = channels
        for _ in range(depth):
            layers += [_UpConv(cin, width, 3), nn.LeakyReLU(0.1, inplace=True)]
            cin = width
        self.branch = nn.Sequential(*layers)
        self.merge = nn.Sequential(nn.Conv2d(4 * width, width, 1), nn.LeakyReLU(0.1, inplace=True),
                                   nn.Conv2d(width, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
            raise ValueError(f"BlindSpotNet takes square frames (B, C, H, H) (four rotations), got {tuple(x.shape)}")
        views = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
        feats = self.branch(views)
        feats = F.pad(feats, (0, 0, 1, 0))[:, :, :-1]  # one row down: strictly the rows above
        parts = feats.chunk(4)
        back = [torch.rot90(p, -k, dims=(2, 3)) for k, p in enumerate(parts)]
        return self.merge(torch.cat(back, 1))


def reblur_loss(latent: torch.Tensor, blurry: torch.Tensor) -> torch.Tensor:
    """SpikeReveal's blur reconstruction loss: the mean squared difference between the blurry frame and
    the re-synthesized one, the average over the exposure of the latent frames ``latent (B, K, 3, H, W)``
    (linear light, as the RGB camera integrates them) through the sRGB curve; ``blurry (B, 3, H, W)`` in
    sRGB [0, 1].  Zero for the true latent frames up to the camera's 8-bit quantization."""
    if latent.ndim != 5 or latent.shape[2] != 3 or latent.shape[-2:] != blurry.shape[-2:]:
        raise ValueError(f"reblur_loss takes latent frames (B, K, 3, H, W) matching the blurry frame, got "
                         f"{tuple(latent.shape)} and {tuple(blurry.shape)}")
    return (linear_to_srgb(latent.mean(1).clamp(0.0, 1.0)) - blurry).square().mean()
