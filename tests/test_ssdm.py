"""S-SDM parts: the blind-spot denoiser never sees the pixel it estimates; the reblur loss."""

import numpy as np
import pytest
import torch

from semcom.receivers.ssdm import BlindSpotNet, reblur_loss


def test_the_blind_spot_excludes_the_centre_pixel_and_only_it():
    torch.manual_seed(0)
    net = BlindSpotNet(width=8, depth=3)
    x = torch.rand(1, 1, 15, 15, requires_grad=True)
    net(x)[0, 0, 7, 7].backward()
    g = x.grad[0, 0]
    assert g[7, 7] == 0  # the estimate of a pixel never depends on that pixel
    for y, xx in ((6, 7), (8, 7), (7, 6), (7, 8), (5, 5), (9, 9)):  # its neighbours on every side do
        assert g[y, xx] != 0, (y, xx)
    assert net(torch.rand(2, 1, 12, 12)).shape == (2, 1, 12, 12)
    with pytest.raises(ValueError, match="square"):
        net(torch.rand(1, 1, 8, 12))


def test_trained_to_copy_its_noisy_input_it_learns_the_clean_value():
    """Self-supervision: the loss MSE(net(noisy), noisy) never sees a clean frame, yet lowers the error to it."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    clean = (0.5 + 0.3 * torch.sin(6 * xx + 3 * yy))[None, None].repeat(8, 1, 1, 1)
    net = BlindSpotNet(width=16, depth=4)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(150):
        noisy = clean + 0.2 * torch.randn(clean.shape, generator=g)
        loss = (net(noisy) - noisy).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=g)
    with torch.no_grad():
        err = (net(noisy) - clean).square().mean()
    assert err < 0.25 * (noisy - clean).square().mean()


def test_reblur_loss_is_zero_for_the_true_latent_frames():
    from semcom.sources.scene import SceneRenderer
    from semcom.sources.camera import CameraConfig
    from semcom.sources.skimage_set import load_skimage_picture

    seq = SceneRenderer(size=32, blur_px=10.0, foreground=0.0).render(load_skimage_picture("coffee"),
                                                                    np.random.default_rng(0))
    cap = CameraConfig(events=False, spikes=False).build().capture(seq, np.random.default_rng(1))
    latent = torch.from_numpy(seq.frames)[None]
    blurry = torch.from_numpy(cap.blurry.astype(np.float32) / 255.0)[None]
    assert float(reblur_loss(latent, blurry)) <= (0.5 / 255) ** 2  # 8-bit quantization only
    still = latent[:, seq.middle:seq.middle + 1]  # the sharp frame alone: no blur
    assert float(reblur_loss(still, blurry)) > 20 * (0.5 / 255) ** 2
    with pytest.raises(ValueError):
        reblur_loss(latent[0], blurry)
