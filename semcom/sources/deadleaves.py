"""Procedural dead-leaves pictures: occluding discs with textured colours, a scale-invariant
stand-in for natural image statistics (training data beside the photographs)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["dead_leaves"]


def dead_leaves(size: int | tuple[int, int], rng: np.random.Generator, *, r_min: float = 2.0,
                r_max: float | None = None, max_discs: int = 20000, texture: float = 0.5,
                supersample: int = 2) -> np.ndarray:
    """A dead-leaves picture: occluding discs with power-law radii and random colours.

    Follows the dead-leaves model of natural images (Lee, Mumford and Huang, IJCV 2001): disc
    radii with density ``∝ r^-3`` between ``r_min`` and ``r_max`` give a scale-invariant,
    ``1/f``-like power spectrum; discs are drawn front to back until the canvas is covered.
    Each disc gets a random colour and, with probability ``texture``, a smooth shading ramp or
    a faint grating.  Rendered ``supersample`` times larger and box-averaged (anti-aliased
    edges).

    Args:
        size: ``(H, W)`` or a side in pixels.
        rng: the random generator.
        r_min, r_max: radius range in output pixels (``r_max`` default: a quarter of the side).
        max_discs: cap on the number of discs.
        texture: probability that a disc is shaded or textured.
        supersample: rendering factor for anti-aliasing.

    Shape:
        returns ``(H, W, 3)`` uint8.
    """
    h, w = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if h < 4 or w < 4:
        raise ValueError(f"dead_leaves needs at least 4x4 pixels, got {size!r}")
    if not (r_min > 0):
        raise ValueError(f"r_min must be positive, got {r_min!r}")
    ss = int(supersample)
    if ss < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample!r}")
    r_max = float(r_max) if r_max is not None else max(min(h, w) / 4.0, r_min * 2)
    if r_max <= r_min:
        raise ValueError(f"r_max ({r_max}) must exceed r_min ({r_min})")
    H, W = h * ss, w * ss
    canvas = np.zeros((H, W, 3), np.float32)
    covered = np.zeros((H, W), bool)
    a, b = (r_min * ss) ** -2, (r_max * ss) ** -2
    remaining = H * W
    batch = 256
    drawn = 0
    while remaining > 0 and drawn < max_discs:
        u = rng.uniform(size=batch)
        radii = (a - u * (a - b)) ** -0.5
        cy = rng.uniform(-radii, H + radii)
        cx = rng.uniform(-radii, W + radii)
        hue = rng.uniform(size=batch)
        sat = rng.uniform(0.0, 0.85, size=batch) ** 1.5
        val = rng.uniform(0.25, 0.95, size=batch)
        kind = rng.uniform(size=batch)
        tex_par = rng.uniform(size=(batch, 4))
        for i in range(batch):
            r = radii[i]
            y_lo, y_hi = max(int(cy[i] - r), 0), min(int(cy[i] + r) + 1, H)
            x_lo, x_hi = max(int(cx[i] - r), 0), min(int(cx[i] + r) + 1, W)
            if y_lo >= y_hi or x_lo >= x_hi:
                continue
            yy = np.arange(y_lo, y_hi, dtype=np.float32)[:, None] - cy[i]
            xx = np.arange(x_lo, x_hi, dtype=np.float32)[None, :] - cx[i]
            inside = (yy * yy + xx * xx <= r * r) & ~covered[y_lo:y_hi, x_lo:x_hi]
            if not inside.any():
                continue
            rgb = _hsv_to_rgb(hue[i], sat[i], val[i])
            block = canvas[y_lo:y_hi, x_lo:x_hi]
            if kind[i] < texture:
                th = tex_par[i, 0] * 2 * math.pi
                proj = (xx * math.cos(th) + yy * math.sin(th)) / r  # in [-1, 1] over the disc
                if tex_par[i, 1] < 0.6:  # shading ramp
                    shade = 1.0 + 0.35 * tex_par[i, 2] * proj
                else:  # faint grating, period 3 to 12 output pixels
                    period = (3.0 + 9.0 * tex_par[i, 2]) * ss
                    shade = 1.0 + 0.15 * np.sin(2 * math.pi * proj * r / period + 6.28 * tex_par[i, 3])
                vals = np.clip(np.asarray(rgb, np.float32)[None, None, :] * shade[..., None], 0.0, 1.0)
                vals = np.broadcast_to(vals, inside.shape + (3,))
                block[inside] = vals[inside]
            else:
                block[inside] = rgb
            covered[y_lo:y_hi, x_lo:x_hi] |= inside
            remaining -= int(inside.sum())
            drawn += 1
            if remaining <= 0 or drawn >= max_discs:
                break
    if remaining > 0:  # fill what the cap left uncovered with the mean colour
        canvas[~covered] = canvas[covered].mean(0) if covered.any() else 0.5
    if ss > 1:
        canvas = canvas.reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
    return np.clip(np.round(canvas * 255.0), 0, 255).astype(np.uint8)


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
