"""DiffEvent's guidance and alternating sampling (no trained priors yet)."""

import torch

from semcom.receivers.diffevent import Guidance, alternating_sample, guidance_gradients, guidance_losses


def _case(seed=0, shape=(1, 3, 8, 9)):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    f = 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)   # the event factor f(E), positive
    r = 0.05 * torch.randn(shape, generator=g, dtype=torch.float64)
    return x, f, r


def test_the_written_out_gradients_are_autograds():
    x, f, r = _case()
    y = f * x + 0.02
    g = Guidance(s=1.3, s_r=0.7, lam=0.05, lam_r=0.02)
    xv, rv = x.clone().requires_grad_(), r.clone().requires_grad_()
    lx, lr = guidance_losses(xv, rv, y, f, g)
    ax, = torch.autograd.grad(lx, xv, retain_graph=True)
    ar, = torch.autograd.grad(lr, rv)
    gx, gr = guidance_gradients(x, r, y, f, g)
    assert torch.allclose(gx, ax, atol=1e-10) and torch.allclose(gr, ar, atol=1e-10)


def test_guidance_alone_converges_to_the_ebrd_least_squares_solution():
    x, f, _ = _case(1)
    y = f * x  # with an L1 weight on r the minimizer is r = 0, x = y / f (any r costs, x absorbs the rest)
    gen = torch.Generator().manual_seed(0)
    est_x, est_r = alternating_sample(y, f, steps=1000, guidance=Guidance(lam_r=0.05), prior_step=0.2,
                                      generator=gen)
    assert (est_x - y / f).abs().max() < 0.03 and est_r.abs().max() < 0.03  # within a step of the L1 term


def test_seeded_sampling_is_deterministic_with_priors():
    x, f, _ = _case(2)
    y = f * x
    prior = lambda state, t: state.clamp(-1, 2)  # noqa: E731  (a stand-in denoiser)
    runs = [alternating_sample(y, f, steps=10, denoise_x=prior, denoise_r=prior,
                               generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    other = alternating_sample(y, f, steps=10, denoise_x=prior, denoise_r=prior,
                               generator=torch.Generator().manual_seed(6))
    assert not torch.equal(runs[0][0], other[0])
