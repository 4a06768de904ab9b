"""The hybrid camera in torch, batched, on any device: fresh training samples drawn during training.

The numpy chain (:mod:`semcom.sources.scene`, :mod:`~semcom.sources.events`) simulates one sample
at a time and lists every event; this module simulates a whole batch at once and never lists an
event, so samples can be made on the GPU at the rate the training step consumes them.

* :func:`dead_leaves` — textured dead-leaves pictures (power-law disc radii, occlusion front to
  back, shading ramps and gratings), vectorized over discs and pictures.
* :func:`render` — latent frames of a picture seen by a camera moving along a random affine
  trajectory (translation with curvature, rotation, zoom), by warping with ``grid_sample`` in
  linear light; the blurry frame is their mean, the sharp frame the middle one (sRGB, 8-bit).
* :func:`crossings_to_bins` — the ESIM model's contrast-threshold crossings between latent frames,
  counted straight into the bins of SCER (EV-JSCC Eq. 10) or per-polarity counts: between two
  frames the log luminance is linear, so the ``j``-th crossing happens at a time linear in ``j``
  and the number of crossings before any bin boundary has a closed form.  The same per-pixel
  thresholds and reference levels give the numpy simulator's events (tested: event count and
  SCER agree).
* :func:`spikes` — the integrate-and-fire spike camera, batched (the numpy camera's arithmetic).
* :class:`FreshSource` — all of the above as batches for the trainer (``--fresh-data``).

* :func:`noisy_crossings`, :func:`sensor_pattern`, :func:`spike_noise` — the sensors' noise with the numpy
  cameras' parameters and statistics (``FreshSource(camera="v2e")``): threshold mismatch per sample or as a
  fixed pattern, photoreceptor low-pass, shot-noise and leak events, noise-rate spread, refractory period,
  background activity; the spike camera's mismatch, dark current, photon shot and read noise; the RGB
  frame's shot and read noise.

Not modelled here (use the numpy sources for them): the moving foreground patch and voxel grids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.errors import SemcomError
from semcom.seeds import step_seed
from semcom.sources.base import Batch
from semcom.sources.events import LUMA_WEIGHTS

__all__ = ["dead_leaves", "render", "crossings_to_bins", "bins_to_representation", "FreshSource", "bin_edges",
           "Crossings", "srgb_to_linear", "spikes"]


def _uniform(shape, g: torch.Generator, device, lo=0.0, hi=1.0) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g, device=device)


def dead_leaves(batch: int, size: int, g: torch.Generator, *, device: torch.device | str = "cpu",
                r_min: float = 2.0, r_max: float | None = None, discs: int = 4096, texture: float = 0.5,
                supersample: int = 2) -> torch.Tensor:
    """Textured dead-leaves pictures ``(B, 3, S, S)`` float32 sRGB in [0, 1].

    Discs with radii of density ``r^-3`` in ``[r_min, r_max]`` (scale-invariant, as the numpy
    :func:`semcom.sources.scene.dead_leaves`) are drawn front to back: a pixel takes the first
    disc that covers it; pixels that no disc covers take the picture's mean colour.  With
    probability ``texture`` a disc is shaded by a ramp or a faint grating.
    """
    dev = torch.device(device)
    ss = int(supersample)
    n = size * ss
    r_max = float(r_max) if r_max is not None else max(size / 4.0, 2 * r_min)
    a, b = (r_min * ss) ** -2, (r_max * ss) ** -2
    u = _uniform((batch, discs), g, dev)
    radii = (a - u * (a - b)) ** -0.5
    cy = _uniform((batch, discs), g, dev) * (n + 2 * radii) - radii
    cx = _uniform((batch, discs), g, dev) * (n + 2 * radii) - radii
    hue, sat, val = (_uniform((batch, discs), g, dev), _uniform((batch, discs), g, dev, 0, 0.85) ** 1.5,
                     _uniform((batch, discs), g, dev, 0.25, 0.95))
    kind, theta, ramp, amp, phase = (_uniform((batch, discs), g, dev) for _ in range(5))
    theta = theta * 2 * math.pi
    # HSV -> RGB per disc
    h6 = hue * 6.0
    k = torch.stack([(5 + h6) % 6, (3 + h6) % 6, (1 + h6) % 6], -1)
    rgb = val[..., None] - val[..., None] * sat[..., None] * (torch.minimum(k, 4 - k).clamp(0, 1))
    ys = torch.arange(n, device=dev, dtype=torch.float32)
    # rasterize every disc over its bounding box, discs grouped by box size, and keep per pixel
    # the first disc (lowest index) that covers it: the front-to-back occlusion of the model
    none = discs
    label = torch.full((batch * n * n,), none, dtype=torch.long, device=dev)
    rad_px = torch.ceil(radii)
    lo = 0.0
    box = 2
    while lo < float(rad_px.max()):
        bi, di = torch.nonzero((rad_px > lo) & (rad_px <= box), as_tuple=True)
        lo, box = box, box * 2
        if bi.numel() == 0:
            continue
        off = torch.arange(-int(lo), int(lo) + 1, device=dev, dtype=torch.float32)
        y0, x0 = torch.floor(cy[bi, di]), torch.floor(cx[bi, di])
        yy = y0[:, None, None] + off[None, :, None]
        xx = x0[:, None, None] + off[None, None, :]
        inside = ((yy - cy[bi, di, None, None]) ** 2 + (xx - cx[bi, di, None, None]) ** 2
                  <= radii[bi, di, None, None] ** 2) & (yy >= 0) & (yy < n) & (xx >= 0) & (xx < n)
        flat = (bi[:, None, None] * n + yy.long()) * n + xx.long()
        ids = di[:, None, None].expand_as(flat)
        label.scatter_reduce_(0, flat[inside], ids[inside], reduce="amin")
    label = torch.where(label == none, -1, label).view(batch, n, n)
    covered = label >= 0
    idx = label.clamp_min(0)
    pick = lambda t: torch.gather(t, 1, idx.flatten(1)).view(batch, n, n)  # noqa: E731
    colour = torch.stack([pick(rgb[..., c]) for c in range(3)], 1)
    # texture: projection on the disc's direction, in [-1, 1] over the disc
    yy = ys[None, :, None] - pick(cy)
    xx = ys[None, None, :] - pick(cx)
    r = pick(radii)
    proj = (xx * torch.cos(pick(theta)) + yy * torch.sin(pick(theta))) / r
    period = (3.0 + 9.0 * pick(amp)) * ss
    ramp_shade = 1.0 + 0.35 * pick(amp) * proj
    grating = 1.0 + 0.15 * torch.sin(2 * math.pi * proj * r / period + 6.28 * pick(phase))
    shade = torch.where(pick(ramp) < 0.6, ramp_shade, grating)
    shade = torch.where(pick(kind) < texture, shade, torch.ones_like(shade))
    img = (colour * shade[:, None]).clamp(0, 1)
    mean = (img * covered[:, None]).sum((2, 3), keepdim=True) / covered.sum((1, 2)).clamp_min(1)[:, None, None, None]
    img = torch.where(covered[:, None], img, mean)
    if ss > 1:
        img = F.avg_pool2d(img, ss)
    return (img * 255).round() / 255


def _affine_grid(params: torch.Tensor, s: torch.Tensor, size: int, src: int) -> torch.Tensor:
    """Sampling grid ``(B*K, S, S, 2)`` of output pixels through per-frame affine camera motion.

    ``params`` ``(B, 4, 3)``: cubic coefficients in ``s`` of (tx, ty, angle, log-zoom), pixels and
    radians; ``s`` ``(K,)`` in [-0.5, 0.5].  The output window is centred in a source of ``src``.
    """
    powers = torch.stack([s, s ** 2, s ** 3])                         # (3, K)
    tx, ty, ang, zoom = (params[:, i] @ powers for i in range(4))       # (B, K) each
    inv, c, si = torch.exp(-zoom), torch.cos(ang), torch.sin(ang)
    half = (size - 1) / 2.0
    lin = torch.linspace(-half, half, size, device=params.device)
    px, py = lin[None, None, None, :], lin[None, None, :, None]
    # image point p -> scene point q = R(-ang) (p - t) / zoom
    qx = inv[..., None, None] * (c[..., None, None] * (px - tx[..., None, None]) + si[..., None, None] * (py - ty[..., None, None]))
    qy = inv[..., None, None] * (-si[..., None, None] * (px - tx[..., None, None]) + c[..., None, None] * (py - ty[..., None, None]))
    scale = 2.0 / (src - 1)
    grid = torch.stack([qx * scale, qy * scale], -1)                   # centred source: 0 -> middle
    return grid.flatten(0, 1)


def render(pictures: torch.Tensor, g: torch.Generator, *, size: int, blur_px: tuple[float, float] = (8.0, 24.0),
           rotation: float = 0.3, zoom: float = 0.2, curvature: float = 0.3, max_step_px: float = 1.0,
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latent frames of ``pictures`` ``(B, 3, P, P)`` sRGB seen by a moving camera.

    Returns ``(frames, times, s)``: linear-light frames ``(B, K, 3, S, S)``, their times as
    fractions of the exposure ``(K,)`` (frame midpoints), and ``s = times - 1/2``.  Each sample
    moves along its own random cubic trajectory whose translation spans a length drawn from
    ``blur_px``, plus rotation and zoom shares (of the blur at the window's corner radius).
    """
    dev = pictures.device
    b = pictures.shape[0]
    k = max(3, int(math.ceil(blur_px[1] / max_step_px)) + 1)
    k += 1 - k % 2                                                      # odd: a middle frame
    times = (torch.arange(k, device=dev, dtype=torch.float32) + 0.5) / k
    s = times - 0.5
    length = _uniform((b,), g, dev, *blur_px)
    angle = _uniform((b,), g, dev, 0, 2 * math.pi)
    params = torch.zeros(b, 4, 3, device=dev)
    bend = torch.randn((b, 2, 2), generator=g, device=dev) * curvature
    params[:, 0, 0], params[:, 1, 0] = torch.cos(angle), torch.sin(angle)
    params[:, :2, 1:] = bend
    # normalize the translation path to unit length (dense polyline), then scale to the blur
    dense = torch.linspace(-0.5, 0.5, 129, device=dev)
    pw = torch.stack([dense, dense ** 2, dense ** 3])
    path = torch.stack([params[:, 0] @ pw, params[:, 1] @ pw], -1)
    plen = path.diff(dim=1).norm(dim=-1).sum(1).clamp_min(1e-6)
    params[:, :2] *= (length / plen)[:, None, None]
    radius = (size - 1) / math.sqrt(2.0)
    sign = torch.where(_uniform((b, 2), g, dev) < 0.5, -1.0, 1.0)
    params[:, 2, 0] = sign[:, 0] * _uniform((b,), g, dev, 0, rotation) * length / radius
    params[:, 3, 0] = sign[:, 1] * _uniform((b,), g, dev, 0, zoom) * length / radius
    src = pictures.shape[-1]
    grid = _affine_grid(params, s, size, src)
    lin = srgb_to_linear(pictures)
    frames = F.grid_sample(lin.repeat_interleave(k, 0), grid, mode="bicubic", padding_mode="border",
                           align_corners=True).clamp(0, 1)
    return frames.view(b, k, 3, size, size), times, s


def bin_edges(exposure_us: int, num_bins: int, device=None) -> torch.Tensor:
    """Integer µs edges ``E_i = ceil(i T / N)``: an event at ``t_us`` is in bin ``i`` iff ``E_i <= t_us < E_{i+1}``."""
    i = torch.arange(num_bins + 1, dtype=torch.int64)
    return (-(-(i * int(exposure_us)) // int(num_bins))).to(device=device, dtype=torch.float64)


@dataclass(frozen=True)
class Crossings:
    """Per-bin event counts of each polarity ``(B, N, H, W)`` and the total count per sample ``(B,)``."""

    positive: torch.Tensor
    negative: torch.Tensor
    total: torch.Tensor


def crossings_to_bins(log_frames: torch.Tensor, times_us: torch.Tensor, *, c_pos: torch.Tensor, c_neg: torch.Tensor,
                      reference: torch.Tensor, exposure_us: int, num_bins: int, refractory_us: float = 0.0,
                      after_pair: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> Crossings:
    """Contrast-threshold crossings of piecewise-linear log luminance, counted per time bin.

    The same model as :func:`semcom.sources.events.log_crossings` (thresholds per pixel, the
    reference moves by one threshold per event, float32 state, crossing times in float64 then
    rounded to the µs and clipped to ``[0, T - 1]``), without listing events: for the ``j``-th
    crossing between frames ``k-1`` and ``k``, ``t_j = t_{k-1} + dt (r + j c - l_{k-1}) / (l_k -
    l_{k-1})`` is linear in ``j``, so the number of crossings before an edge ``E`` (``rint(t_j) <
    E`` <=> ``t_j < E - 1/2``) is ``ceil((f (l_k - l_{k-1}) + l_{k-1} - r) / c) - 1`` clipped to
    ``[0, n]`` with ``f = (E - 1/2 - t_{k-1}) / dt``.

    A refractory period ``R`` (``refractory_us``) keeps, of the evenly spaced crossings ``t_j = a + j Δ``
    of a frame pair, the first one at least ``R`` after the pixel's last event and then every
    ``m = ceil(R / Δ)``-th: the numpy simulator's greedy rule in closed form.  ``after_pair(k, ref, cur)``
    returns the reference levels after pair ``k`` (a shot-noise event resets a pixel to ``cur``).

    Shape:
        log_frames: ``(B, K, H, W)`` float32; times_us ``(K,)``; c_pos, c_neg, reference ``(B, H, W)``.
    """
    b, k, h, w = log_frames.shape
    dev = log_frames.device
    times = times_us.to(device=dev, dtype=torch.float64)
    edges = bin_edges(exposure_us, num_bins, dev) - 0.5                  # rint(t) < E  <=>  t < E - 1/2
    edges[0], edges[-1] = -math.inf, math.inf                             # clipping to [0, T - 1]
    ref = reference.to(torch.float32).clone()
    cp, cn = c_pos.to(torch.float32), c_neg.to(torch.float32)
    pos = torch.zeros(b, num_bins, h, w, device=dev, dtype=torch.float32)
    neg = torch.zeros_like(pos)
    last = torch.full((b, h, w), -math.inf, device=dev, dtype=torch.float64) if refractory_us > 0 else None
    for i in range(1, k):
        prev, cur = log_frames[:, i - 1], log_frames[:, i]
        diff = cur - ref
        up, down = diff >= cp, diff <= -cn
        active = up | down
        step = torch.where(up, cp, -cn)
        count = torch.where(active, torch.floor(diff / step), torch.zeros_like(diff))
        r0, l0 = ref.double(), prev.double()
        slope = cur.double() - l0
        stepd = step.double()
        t0, dt = float(times[i - 1]), float(times[i] - times[i - 1])
        f = ((edges - t0) / dt).clamp(-1.0, 2.0)                          # (N+1,)
        q = (f[:, None, None, None] * slope[None] + (l0 - r0)[None]) / stepd[None]
        before = (torch.ceil(q) - 1).clamp(min=0).minimum(count.double()[None])   # (N+1, B, H, W)
        if last is not None:
            before, last = _refractory(before, count.double(), r0, l0, slope, stepd, t0, dt, last, active,
                                       float(refractory_us))
        per_bin = (before[1:] - before[:-1]).clamp_min(0).float().permute(1, 0, 2, 3)
        pos += torch.where(up[:, None], per_bin, torch.zeros_like(per_bin))
        neg += torch.where(down[:, None], per_bin, torch.zeros_like(per_bin))
        ref = torch.where(active, (r0 + count.double() * stepd).float(), ref)
        if after_pair is not None:
            ref = after_pair(i, ref, cur)
    return Crossings(pos, neg, (pos + neg).sum((1, 2, 3)))


def sensor_pattern(cfg: Any, n: int, height: int, width: int, g: torch.Generator, device) -> dict[str, torch.Tensor]:
    """Per-pixel ``(n, H, W)`` thresholds ``cp``, ``cn`` and noise-rate factors ``spread`` of the event camera
    ``cfg`` (:class:`~semcom.sources.camera.CameraConfig`): the numpy simulator's fixed pattern
    (``mismatch="sensor"``, the same numbers) or fresh draws from ``g`` per sample."""
    shape = (n, height, width)
    if cfg.mismatch == "sensor":
        from semcom.sources.events import EventCamera

        cam = cfg.event_camera()
        cp, cn = cam.pixel_thresholds(height, width, None)
        spread = cam.rate_spread(height, width, None)
        as_t = lambda a, dt: torch.as_tensor(a.reshape(height, width), dtype=dt, device=device).expand(shape)  # noqa: E731
        return {"cp": as_t(cp, torch.float32), "cn": as_t(cn, torch.float32), "spread": as_t(spread, torch.float64)}
    sig = cfg.contrast_sigma
    cp = (cfg.contrast + sig * torch.randn(shape, generator=g, device=device)).clamp_min(0.01)
    cn = (cfg.contrast + sig * torch.randn(shape, generator=g, device=device)).clamp_min(0.01)
    spread = torch.ones(shape, dtype=torch.float64, device=device)
    if cfg.noise_spread_decades > 0:
        spread = 10.0 ** (cfg.noise_spread_decades * torch.randn(shape, generator=g, device=device).double())
    return {"cp": cp, "cn": cn, "spread": spread}


def noisy_crossings(log: torch.Tensor, times_us: torch.Tensor, *, cfg: Any, cp: torch.Tensor, cn: torch.Tensor,
                    spread: torch.Tensor, reference: torch.Tensor, exposure_us: int, num_bins: int,
                    g: torch.Generator, log_eps: float = 1e-3) -> Crossings:
    """The event camera's v2e noise (:class:`semcom.sources.events.EventCamera`), counted per time bin.

    The photoreceptor low-pass on a finer time grid (exact steps of at most ``tau_white / 8``), the leak
    drift (jittered per step), the refractory period in closed form, shot-noise events (Poisson
    candidates thinned to the rate at their pixel's luminance, each resetting its pixel's reference at
    the end of its step) and uniform background activity, with the numpy simulator's rates.

    Shape:
        log: ``log(L + ε)`` ``(B, K, H, W)``; times_us ``(K,)``; cp, cn, spread, reference ``(B, H, W)``.
    """
    from semcom.sources.events import SHOT_NOISE_WHITE, intensity01, lowpass_step, substeps

    b, k, h, w = log.shape
    dev = log.device
    times = times_us.detach().to(torch.float64).cpu().numpy()
    tau_white = 1e6 / (2 * math.pi * cfg.cutoff_hz) if cfg.cutoff_hz > 0 else math.inf
    fine, lo, frac = substeps(times, tau_white / 8 if cfg.cutoff_hz > 0 else None)
    nf = fine.size
    log64 = log.double()
    lo_t = torch.as_tensor(lo, device=dev)
    hi_t = (lo_t + 1).clamp(max=k - 1)
    fr = torch.as_tensor(frac, device=dev, dtype=torch.float64)[None, :, None, None]
    x = (1 - fr) * log64[:, lo_t] + fr * log64[:, hi_t]                    # (B, F, H, W)
    signal = x
    if cfg.cutoff_hz > 0:
        ys = [x[:, 0]]
        for j in range(1, nf):
            lum = torch.exp(0.5 * (x[:, j - 1] + x[:, j])) - log_eps
            tau = tau_white / intensity01(lum)
            ys.append(lowpass_step(ys[-1], x[:, j - 1], x[:, j], tau, float(fine[j] - fine[j - 1])))
        signal = torch.stack(ys, 1)
    if cfg.leak_hz > 0:
        dts = torch.as_tensor(np.diff(fine), device=dev, dtype=torch.float64)[None, :, None, None]
        jitter = 1.0 - cfg.leak_jitter * torch.randn((b, nf - 1, h, w), generator=g, device=dev).double()
        rate = (cfg.leak_hz * 1e-6 * spread * cp.double())[:, None]
        offset = torch.cumsum(rate * jitter * dts, 1)
        signal = signal + torch.cat([torch.zeros_like(offset[:, :1]), offset], 1)
    edges = bin_edges(exposure_us, num_bins, dev)
    extra_pos = torch.zeros(b, num_bins, h, w, device=dev, dtype=torch.float32)
    extra_neg = torch.zeros_like(extra_pos)

    def add(t_us: torch.Tensor, flat: torch.Tensor, sign: torch.Tensor) -> None:
        """Count listed events (times in µs, flat (B, H, W) indices, polarities) into their bins."""
        t_int = torch.round(t_us).clamp(0, exposure_us - 1)
        bins = (torch.searchsorted(edges, t_int, right=True) - 1).clamp(0, num_bins - 1)
        bi, pix = flat // (h * w), flat % (h * w)
        idx = (bi * num_bins + bins) * (h * w) + pix
        for target, pol in ((extra_pos, 1), (extra_neg, -1)):
            sel = sign == pol
            target.view(-1).index_put_((idx[sel],), torch.ones(int(sel.sum()), device=dev), accumulate=True)

    after_pair = None
    if cfg.shot_noise_hz > 0:
        top = max(1.0, SHOT_NOISE_WHITE)
        ts, flats, signs = [], [], []
        for c_pix, sign in ((cp, 1), (cn, -1)):
            peak = 0.5 * cfg.shot_noise_hz * top * spread * (cfg.contrast / c_pix.double())
            counts = torch.poisson(peak * exposure_us * 1e-6, generator=g).long().flatten()
            flat = torch.repeat_interleave(torch.arange(b * h * w, device=dev), counts)
            t = torch.rand(flat.shape, generator=g, device=dev, dtype=torch.float64) * exposure_us
            # luminance at the candidate's time: log interpolated between the latent frames
            tt = torch.as_tensor(times, device=dev)
            hi = torch.searchsorted(tt, t, right=True).clamp(1, max(k - 1, 1))
            lo_c = hi - 1
            a = ((t - tt[lo_c]) / (tt[hi] - tt[lo_c]).clamp_min(1e-12)).clamp(0, 1) if k > 1 else torch.zeros_like(t)
            bi, pix = flat // (h * w), flat % (h * w)
            flat_log = log64.reshape(b, k, h * w)
            lval = (1 - a) * flat_log[bi, lo_c, pix] + a * flat_log[bi, hi, pix]
            factor = 1.0 + (SHOT_NOISE_WHITE - 1.0) * intensity01(torch.exp(lval) - log_eps)
            keep = torch.rand(t.shape, generator=g, device=dev, dtype=torch.float64) < factor / top
            ts.append(t[keep])
            flats.append(flat[keep])
            signs.append(torch.full((int(keep.sum()),), sign, device=dev))
        shot_t, shot_flat, shot_sign = torch.cat(ts), torch.cat(flats), torch.cat(signs)
        add(shot_t, shot_flat, shot_sign)
        fine_t = torch.as_tensor(fine, device=dev)
        step = torch.searchsorted(fine_t, shot_t, right=False).clamp(1, nf - 1)
        order = torch.argsort(step, stable=True)
        step_sorted, flat_sorted = step[order], shot_flat[order]
        bounds = torch.searchsorted(step_sorted, torch.arange(nf + 1, device=dev)).tolist()

        def after_pair(j: int, ref: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
            pix = flat_sorted[bounds[j]:bounds[j + 1]]
            if pix.numel():
                ref = ref.clone()
                ref.view(-1)[pix] = cur.reshape(-1)[pix].float()
            return ref

    if cfg.noise_rate_hz > 0:
        counts = torch.poisson(torch.full((b * h * w,), cfg.noise_rate_hz * exposure_us * 1e-6, device=dev,
                                          dtype=torch.float64), generator=g).long()
        flat = torch.repeat_interleave(torch.arange(b * h * w, device=dev), counts)
        t = torch.randint(0, int(exposure_us), flat.shape, generator=g, device=dev).double()
        sign = torch.where(torch.rand(flat.shape, generator=g, device=dev) < 0.5, -1, 1)
        add(t, flat, sign)
    cross = crossings_to_bins(signal.float(), torch.as_tensor(fine), c_pos=cp, c_neg=cn, reference=reference,
                              exposure_us=exposure_us, num_bins=num_bins, refractory_us=cfg.refractory_us,
                              after_pair=after_pair)
    pos, neg = cross.positive + extra_pos, cross.negative + extra_neg
    return Crossings(pos, neg, (pos + neg).sum((1, 2, 3)))


def _refractory(before: torch.Tensor, count: torch.Tensor, r0: torch.Tensor, l0: torch.Tensor, slope: torch.Tensor,
                step: torch.Tensor, t0: float, dt: float, last: torch.Tensor, active: torch.Tensor,
                refractory: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Crossings kept by the refractory period, counted before each edge, and the new last event times."""
    safe = torch.where(active & (slope != 0), slope, torch.ones_like(slope))
    a = t0 + dt * (r0 - l0) / safe                      # crossing j at a + j * gap
    gap = (dt * step / safe).clamp_min(1e-12)
    j0 = torch.ceil((last + refractory - a) / gap).clamp(min=1.0)
    j0 = torch.where(torch.isfinite(j0), j0, torch.ones_like(j0))
    m = torch.ceil(refractory / gap).clamp(min=1.0)
    kept = lambda n: torch.where(n >= j0, torch.floor((n - j0) / m) + 1, torch.zeros_like(n))  # noqa: E731
    total = kept(count) * active
    newest = a + (j0 + (total - 1) * m) * gap
    return kept(before) * active, torch.where(total > 0, newest, last)


def bins_to_representation(cross: Crossings, kind: str) -> torch.Tensor:
    """SCER ``(B, N, H, W)`` (EV-JSCC Eq. 10, as :func:`semcom.sources.representations.scer`) or
    per-polarity counts ``(B, 2, H, W)`` from per-bin counts."""
    signed = cross.positive - cross.negative
    if kind == "scer":
        n = signed.shape[1]
        if n % 2:
            raise SemcomError(f"SCER needs an even number of bins, got {n}")
        mid = n // 2
        early = -torch.flip(torch.cumsum(torch.flip(signed[:, :mid], [1]), 1), [1])
        late = torch.cumsum(signed[:, mid:], 1)
        return torch.cat([early, late], 1)
    if kind == "count":
        return torch.stack([cross.positive.sum(1), cross.negative.sum(1)], 1)
    raise SemcomError(f"the torch simulation makes 'scer' and 'count' representations, not {kind!r}")


def spikes(lum: torch.Tensor, times_us: torch.Tensor, *, exposure_us: float, rate_hz: float = 40_000.0,
           theta: float = 1.0, gain: float = 1.0, scale: int = 4, potential: torch.Tensor | None = None,
           max_per_tick: int = 1, noise: "SpikeNoise | None" = None) -> torch.Tensor:
    """The integrate-and-fire spike camera of :class:`semcom.sources.spikes.SpikeCamera`, batched.

    Same model and float32 arithmetic as the numpy camera (block-averaged luminance, charge
    ``gain * L`` per tick interpolated between latent frames, at most ``max_per_tick`` spikes a
    tick, potential saturating at one threshold); ``noise`` adds the sensor's noise (:class:`SpikeNoise`:
    per-pixel threshold, gain and dark current, photon shot noise, read noise) as the numpy camera does.

    Shape:
        lum: linear luminance ``(B, K, H, W)``; times_us ``(K,)``; potential (initial) ``(B, H/s, W/s)``
        -> uint8 ``(B, T, H/s, W/s)`` with ``T = round(exposure * rate)``.
    """
    b, k, h, w = lum.shape
    hh, ww = h // scale, w // scale
    low = lum[..., :hh * scale, :ww * scale].reshape(b, k, hh, scale, ww, scale).mean((3, 5)).clamp_min(0)
    ticks = max(1, int(round(exposure_us * 1e-6 * rate_hz)))
    times = times_us.to(torch.float64).cpu()
    tc = (torch.arange(ticks, dtype=torch.float64) + 0.5) * (1e6 / rate_hz)
    hi = torch.searchsorted(times, tc, right=True).clamp(1, max(k - 1, 1))
    lo = hi - 1
    frac = ((tc - times[lo]) / (times[hi] - times[lo])).clamp(0, 1).float() if k > 1 else torch.zeros(ticks)
    v = torch.zeros(b, hh, ww, device=lum.device) if potential is None else potential.float().clone()
    out = torch.empty(b, ticks, hh, ww, dtype=torch.uint8, device=lum.device)
    th, cap = torch.tensor(theta, dtype=torch.float32), float(max_per_tick)
    if noise is not None:
        return _noisy_spikes(low, lo, hi, frac, v, out, noise, theta=theta, cap=cap)
    for i in range(ticks):
        a = float(frac[i])
        light = low[:, lo[i]] if a == 0 else (1 - a) * low[:, lo[i]] + a * low[:, hi[i]]
        v += gain * light
        n = torch.floor(v / th).clamp(max=cap)
        v -= n * th
        v.clamp_(max=theta)
        out[:, i] = n.to(torch.uint8)
    return out


@dataclass(frozen=True)
class SpikeNoise:
    """The spike camera's noise for :func:`spikes`: per-pixel threshold, gain and mean dark charge per tick
    ``(B, h, w)``, read noise (standard deviation per tick), photons per unit charge (``None``: no shot
    noise) and the generator of the per-tick draws."""

    theta: torch.Tensor
    gain: torch.Tensor
    dark: torch.Tensor | None
    read_noise: float
    photons: float | None
    generator: torch.Generator


def _noisy_spikes(low, lo, hi, frac, v, out, noise: SpikeNoise, *, theta: float, cap: float) -> torch.Tensor:
    g = noise.generator
    th = noise.theta.float()
    v = v * (th / theta)  # a random start inside each pixel's own threshold
    for i in range(out.shape[1]):
        a = float(frac[i])
        light = low[:, lo[i]] if a == 0 else (1 - a) * low[:, lo[i]] + a * low[:, hi[i]]
        charge = noise.gain * light
        if noise.photons is not None:
            charge = torch.poisson(charge.clamp_min(0) * noise.photons, generator=g) / noise.photons
        v = v + charge
        if noise.dark is not None:
            v = v + noise.dark * torch.empty_like(v).exponential_(1.0, generator=g)
        if noise.read_noise > 0:
            v = v + noise.read_noise * torch.randn(v.shape, generator=g, device=v.device)
        n = torch.floor(v / th).clamp(0, cap)
        v = torch.minimum(v - n * th, th)
        out[:, i] = n.to(torch.uint8)
    return out


def luminance(frames: torch.Tensor) -> torch.Tensor:
    """Linear luminance ``(..., H, W)`` of linear RGB ``(..., 3, H, W)``."""
    r, g, b = LUMA_WEIGHTS
    return r * frames[..., 0, :, :] + g * frames[..., 1, :, :] + b * frames[..., 2, :, :]


class FreshSource:
    """Fresh training batches of the hybrid camera, simulated on ``device`` from ``(seed, step, shard)``.

    Pictures: textured dead leaves (fraction ``dead_leaves``) and random windows of ``pictures``
    (uint8 ``(3, H, W)`` tensors, e.g. the photos corpus, kept on the device).  The camera: the
    motion of :func:`render`, an 8-bit RGB sensor without noise, and an event camera with
    per-pixel Gaussian threshold mismatch and a random initial reference level.

    Args:
        size: side of the frames.
        pictures: natural pictures to draw windows from (``[]``: dead leaves only).
        dead_leaves: fraction of samples from dead leaves when ``pictures`` is not empty.
        exposure_us, contrast, contrast_sigma, min_contrast, log_eps, num_bins, representation:
            the event camera and its representation, as in ``synth-blur``.
        camera: the hybrid camera's settings or noise preset (a :class:`~semcom.sources.camera.CameraConfig`,
            a table such as ``{"preset": "v2e"}``, or a preset's name); ``contrast``, ``contrast_sigma``,
            ``spike_rate_hz`` and ``spike_scale`` given on their own override it.
    """

    def __init__(self, *, size: int, device: torch.device | str = "cpu", pictures: list[torch.Tensor] | None = None,
                 dead_leaves: float = 0.5, blur_px: tuple[float, float] = (8.0, 24.0), exposure_us: int = 10_000,
                 contrast: float | None = None, contrast_sigma: float | None = None, min_contrast: float = 0.01,
                 log_eps: float = 1e-3, num_bins: int = 6, representation: str = "scer",
                 spikes: bool = False, spike_rate_hz: float | None = None, spike_scale: int | None = None,
                 camera: Any = None) -> None:
        from semcom.sources.camera import CameraConfig

        given = {k: v for k, v in (("contrast", contrast), ("contrast_sigma", contrast_sigma),
                                   ("spike_rate_hz", spike_rate_hz), ("spike_scale", spike_scale)) if v is not None}
        self.camera = CameraConfig.from_settings(camera, what="fresh data", **given)
        contrast, contrast_sigma = self.camera.contrast, self.camera.contrast_sigma
        spike_rate_hz, spike_scale = self.camera.spike_rate_hz, self.camera.spike_scale
        if representation not in ("scer", "count"):
            raise SemcomError(f"--fresh-data makes 'scer' or 'count' events, not {representation!r}")
        self.size, self.device = int(size), torch.device(device)
        self.pictures = [p.to(self.device) for p in (pictures or [])]
        self.dead_leaves = 1.0 if not self.pictures else float(dead_leaves)
        self.blur_px = tuple(float(v) for v in blur_px)
        self.margin = int(math.ceil(self.blur_px[1])) + 8
        self.exposure_us, self.num_bins, self.representation = int(exposure_us), int(num_bins), representation
        self.contrast, self.contrast_sigma, self.min_contrast = float(contrast), float(contrast_sigma), float(min_contrast)
        self.log_eps = float(log_eps)
        self.spikes, self.spike_rate_hz, self.spike_scale = bool(spikes), float(spike_rate_hz), int(spike_scale)
        if self.spikes and self.size % self.spike_scale:
            raise SemcomError(f"the frame side {self.size} is not a multiple of the spike camera's scale "
                              f"{self.spike_scale}")

    @property
    def describe(self) -> dict:
        """What the samples are (stored in checkpoints)."""
        out = {"name": "fresh", "size": self.size, "pictures": len(self.pictures), "dead_leaves": self.dead_leaves,
               "blur_px": list(self.blur_px), "exposure_us": self.exposure_us, "contrast": self.contrast,
               "contrast_sigma": self.contrast_sigma, "num_bins": self.num_bins,
               "representation": self.representation, "spikes": self.spikes}
        noise = {k: v for k, v in self.camera.changed().items()
                 if k not in ("contrast", "contrast_sigma", "spike_rate_hz", "spike_scale", "spikes", "events")}
        if noise:  # only a noisy camera adds its settings: the default description stays as it was
            out["camera"] = noise
        return out

    @property
    def event_noise(self) -> bool:
        cam = self.camera
        return bool(cam.cutoff_hz > 0 or cam.shot_noise_hz > 0 or cam.leak_hz > 0 or cam.refractory_us > 0
                    or cam.noise_rate_hz > 0 or cam.mismatch == "sensor" or cam.noise_spread_decades > 0)

    @property
    def spike_noise(self) -> bool:
        cam = self.camera
        return bool(cam.dark_current or cam.spike_theta_sigma or cam.spike_gain_sigma or cam.spike_read_noise
                    or cam.spike_photons)

    def _windows(self, n: int, side: int, g: torch.Generator) -> torch.Tensor:
        """``n`` random ``side x side`` windows of the pictures (upscaled where a picture is smaller)."""
        out = []
        choice = torch.randint(len(self.pictures), (n,), generator=g, device=self.device).tolist()
        pos = torch.rand(n, 2, generator=g, device=self.device).tolist()
        for c, (py, px) in zip(choice, pos):
            pic = self.pictures[c].float() / 255.0
            h, w = pic.shape[-2:]
            if min(h, w) < side:
                scale = side / min(h, w)
                pic = F.interpolate(pic[None], scale_factor=scale * 1.0001, mode="bicubic",
                                    align_corners=False)[0].clamp(0, 1)
                h, w = pic.shape[-2:]
            y, x = int(py * (h - side)), int(px * (w - side))
            out.append(pic[:, y:y + side, x:x + side])
        return torch.stack(out)

    def draw(self, *, seed: int, step: int, batch_size: int, shard: int = 0, crop: int | None = None,
             augment: tuple[str, ...] = ()) -> Batch:
        """The fresh batch of ``step`` for ``shard`` (the trainer's interface; crops and
        augmentation are not needed: every sample is new)."""
        g = torch.Generator(device=self.device).manual_seed(step_seed(seed, step, 0, shard))
        return self.batch(int(batch_size), g)

    @torch.no_grad()
    def batch(self, n: int, g: torch.Generator) -> Batch:
        """``n`` fresh samples (sharp, blurry, events) from the generator ``g`` (on the device)."""
        side = self.size + 2 * self.margin
        leaves = torch.rand(n, generator=g, device=self.device) < self.dead_leaves
        pics = dead_leaves(n, side, g, device=self.device)
        if self.pictures and not bool(leaves.all()):
            pics = torch.where(leaves[:, None, None, None], pics, self._windows(n, side, g))
        frames, times, _ = render(pics, g, size=self.size, blur_px=self.blur_px)  # centred in the window
        k = frames.shape[1]
        quant = lambda x: (linear_to_srgb(x) * 255).round() / 255  # noqa: E731
        cam = self.camera
        mean = frames.mean(1)
        if cam.full_well is not None or cam.read_noise > 0:  # the RGB sensor's shot and read noise (rgb.py)
            if cam.full_well is not None:
                mean = torch.poisson(mean.clamp_min(0) * cam.full_well, generator=g) / cam.full_well
            if cam.read_noise > 0:
                mean = mean + cam.read_noise * torch.randn(mean.shape, generator=g, device=self.device)
            mean = mean.clamp(0, 1)
        blurry, sharp = quant(mean), quant(frames[:, k // 2])
        log = torch.log(luminance(frames).clamp_min(0) + self.log_eps)
        shape = (n, self.size, self.size)
        if self.event_noise:
            pattern = sensor_pattern(cam, n, self.size, self.size, g, self.device)
            cp, cn = pattern["cp"], pattern["cn"]
        else:
            sig = self.contrast_sigma
            cp = (self.contrast + sig * torch.randn(shape, generator=g, device=self.device)).clamp_min(self.min_contrast)
            cn = (self.contrast + sig * torch.randn(shape, generator=g, device=self.device)).clamp_min(self.min_contrast)
        ref = log[:, 0] + torch.rand(shape, generator=g, device=self.device) * (cp + cn) - cp
        if self.event_noise:
            cross = noisy_crossings(log, times * self.exposure_us, cfg=cam, cp=cp, cn=cn, spread=pattern["spread"],
                                    reference=ref, exposure_us=self.exposure_us, num_bins=self.num_bins, g=g,
                                    log_eps=self.log_eps)
        else:
            cross = crossings_to_bins(log, times * self.exposure_us, c_pos=cp, c_neg=cn, reference=ref,
                                      exposure_us=self.exposure_us, num_bins=self.num_bins)
        events = bins_to_representation(cross, self.representation)
        spk = None
        if self.spikes:
            lum = luminance(frames)
            hs = self.size // self.spike_scale
            v0 = torch.rand((n, hs, hs), generator=g, device=self.device)  # a camera that ran before
            noise = spike_noise(cam, n, hs, hs, g, self.device) if self.spike_noise else None
            spk = spikes(lum, times * self.exposure_us, exposure_us=self.exposure_us, rate_hz=self.spike_rate_hz,
                         scale=self.spike_scale, potential=v0, theta=cam.spike_theta, gain=cam.spike_gain, noise=noise)
        return Batch(sharp=sharp, blurry=blurry, events=events, spikes=spk)


def spike_noise(cfg: Any, n: int, height: int, width: int, g: torch.Generator, device) -> SpikeNoise:
    """The spike camera's noise of ``cfg`` for :func:`spikes`: the numpy camera's fixed pattern
    (``mismatch="sensor"``) or per-sample draws from ``g``."""
    cam = cfg.spike_camera()
    if cfg.mismatch == "sensor":
        theta, gain, dark = (torch.as_tensor(a, device=device).expand(n, height, width)
                             for a in cam.pixel_pattern(height, width, None))
    else:
        def draw(sigma: float, nominal: float, low: float) -> torch.Tensor:
            if sigma <= 0:
                return torch.full((n, height, width), nominal, device=device)
            return (nominal * (1 + sigma * torch.randn((n, height, width), generator=g, device=device))).clamp_min(low)

        theta = draw(cam.theta_sigma, cam.theta, 0.05 * cam.theta)
        gain = draw(cam.gain_sigma, cam.gain, 0.0)
        dark = draw(cam.dark_sigma, cam.dark_current, 0.0)
    return SpikeNoise(theta=theta, gain=gain, dark=dark if cam.dark_current > 0 else None,
                      read_noise=cam.read_noise, photons=cam.photons, generator=g)
