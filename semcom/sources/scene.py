"""Latent scene: the sharp high-frame-rate frames that the hybrid camera integrates.

A sharp picture is seen by a camera that moves smoothly during the exposure ``T``
(translation, in-plane rotation and zoom, all sub-pixel), optionally with a foreground patch
that moves on its own.  :class:`SceneRenderer` renders ``K`` *latent frames* at the times
``t_k = (k + 1/2) T / K`` (the midpoint rule, so the blurry frame of EV-JSCC Eq. 3 is their
plain average, as in GoPro where 7 to 13 frames taken at 240 fps are averaged).  ``K`` is
odd and chosen so that no pixel moves more than ``max_step_px`` (about one pixel) between
consecutive frames, which the event camera needs (ESIM renders adaptively for the same
reason).  The middle frame ``k = (K - 1) / 2`` sits at ``T / 2`` where the camera motion is
the identity: it is the sharp target, and it reproduces the source crop exactly.

Frames are resampled in *linear light* with bicubic interpolation from a window of the
picture larger than the crop by a margin that covers the largest displacement, so nothing
wraps around or comes from outside the picture (small pictures are upscaled first).

:func:`dead_leaves` (procedural pictures with natural-image statistics) lives in
:mod:`semcom.sources.deadleaves` and is re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from semcom.colour import linear_to_srgb_np, srgb_to_linear_np  # noqa: F401  (re-exported)
from semcom.errors import SemcomError
from semcom.sources.deadleaves import dead_leaves  # noqa: F401  (re-exported: it used to live here)

__all__ = ["Trajectory", "LatentSequence", "SceneRenderer", "dead_leaves", "srgb_to_linear_np",
           "linear_to_srgb_np"]

#: samples of the normalized time s in [-1/2, 1/2] used to measure path lengths and speeds
_DENSE = 513


# --------------------------------------------------------------------------- motion


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A smooth similarity motion over the exposure, as polynomials of ``s`` in [-1/2, 1/2].

    A scene point ``q`` (pixels, relative to the centre of the frame) appears at
    ``p(s) = exp(zoom(s)) · R(angle(s)) · q + (tx(s), ty(s))``.  No polynomial has a constant
    term, so ``p(0) = q``: the motion is the identity at the middle of the exposure.

    Args:
        coeffs: ``(4, D)`` coefficients of ``tx``, ``ty`` (pixels), ``angle`` (radians) and
            ``zoom`` (log scale) for the powers ``s, s^2, ..., s^D``.
    """

    coeffs: np.ndarray

    @staticmethod
    def identity() -> "Trajectory":
        return Trajectory(np.zeros((4, 3)))

    def params(self, s: np.ndarray) -> np.ndarray:
        """``(4, len(s))``: tx, ty, angle and log zoom at the normalized times ``s``."""
        s = np.asarray(s, dtype=np.float64)
        powers = np.stack([s ** (d + 1) for d in range(self.coeffs.shape[1])])
        return self.coeffs @ powers

    def apply(self, points: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Image positions ``(len(s), P, 2)`` (x, y) of scene points ``(P, 2)`` at times ``s``."""
        tx, ty, ang, zoom = self.params(s)
        z = np.exp(zoom)[:, None]
        c, si = np.cos(ang)[:, None], np.sin(ang)[:, None]
        x, y = points[None, :, 0], points[None, :, 1]
        return np.stack([z * (c * x - si * y) + tx[:, None], z * (si * x + c * y) + ty[:, None]], axis=-1)

    def scaled(self, factor: float) -> "Trajectory":
        return Trajectory(self.coeffs * float(factor))


def _path_stats(traj: Trajectory, points: np.ndarray, inner: Trajectory | None = None,
                offset: np.ndarray | None = None) -> tuple[float, float, float]:
    """Largest path length, largest speed (pixels per unit of s) and largest displacement.

    With ``inner`` the points first move with ``inner`` (object motion) and are shifted by
    ``offset`` before the camera motion ``traj`` applies.
    """
    s = np.linspace(-0.5, 0.5, _DENSE)
    if inner is None:
        pos = traj.apply(points, s)
    else:
        obj = inner.apply(points, s) + offset[None, None, :]
        tx, ty, ang, zoom = traj.params(s)
        z, c, si = np.exp(zoom)[:, None], np.cos(ang)[:, None], np.sin(ang)[:, None]
        x, y = obj[..., 0], obj[..., 1]
        pos = np.stack([z * (c * x - si * y) + tx[:, None], z * (si * x + c * y) + ty[:, None]], axis=-1)
        rest = obj[_DENSE // 2]  # where the points are at s = 0
        points = rest
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=-1)  # (_DENSE - 1, P)
    length = float(steps.sum(0).max()) if steps.size else 0.0
    speed = float(steps.max() * (_DENSE - 1)) if steps.size else 0.0
    disp = float(np.linalg.norm(pos - points[None], axis=-1).max()) if pos.size else 0.0
    return length, speed, disp


def _random_trajectory(rng: np.random.Generator, *, blur_px: float, radius: float, rotation: float,
                       zoom: float, curvature: float, probe: np.ndarray) -> Trajectory:
    """A random cubic trajectory whose longest pixel path over ``probe`` is ``blur_px``."""
    if blur_px <= 0:
        return Trajectory.identity()
    # translation: a main direction plus curved terms
    angle = rng.uniform(0, 2 * math.pi)
    trans = np.zeros((2, 3))
    trans[:, 0] = [math.cos(angle), math.sin(angle)]
    trans[:, 1:] = rng.normal(0.0, curvature, size=(2, 2))
    # rotation and zoom shares: fractions of the blur that they would cause alone at radius
    rot_share = rng.uniform(0.0, rotation) if rotation > 0 else 0.0
    zoom_share = rng.uniform(0.0, zoom) if zoom > 0 else 0.0
    rot = np.array([1.0, *rng.normal(0.0, curvature, size=2)]) * rng.choice([-1.0, 1.0])
    zm = np.array([1.0, *rng.normal(0.0, curvature, size=2)]) * rng.choice([-1.0, 1.0])
    s = np.linspace(-0.5, 0.5, _DENSE)
    powers = np.stack([s, s ** 2, s ** 3])

    def length_of(c: np.ndarray) -> float:
        v = c @ powers
        return float(np.abs(np.diff(v)).sum())

    coeffs = np.zeros((4, 3))
    coeffs[:2] = trans / max(math.hypot(*[length_of(trans[0]), length_of(trans[1])]), 1e-12)
    r = max(radius, 1.0)
    coeffs[2] = rot / max(length_of(rot), 1e-12) * rot_share / r
    coeffs[3] = zm / max(length_of(zm), 1e-12) * zoom_share / r
    traj = Trajectory(coeffs)
    # rescale so that the longest path over the probe points is blur_px (a few fixed-point steps)
    for _ in range(4):
        length, _, _ = _path_stats(traj, probe)
        traj = traj.scaled(blur_px / max(length, 1e-12))
    return traj


# --------------------------------------------------------------------------- output


@dataclass(frozen=True, eq=False)
class LatentSequence:
    """``K`` latent frames over one exposure.

    Args:
        frames: ``(K, C, H, W)`` float32 linear light in [0, 1].
        times_us: ``(K,)`` float64 frame times ``(k + 1/2) T / K`` in microseconds.
        exposure_us: the exposure ``T`` in microseconds.
        blur_px: the longest path (pixels) that a point of the frame travels during ``T``.
        origin: ``(y, x)`` of the crop in the (possibly upscaled) picture.
        upscale: factor by which the picture was enlarged first (1.0: none).
        foreground: whether a moving foreground patch is in the scene.

    Shape:
        ``frames``: ``(K, C, H, W)``; the middle frame ``frames[K // 2]`` is the sharp target.
    """

    frames: np.ndarray
    times_us: np.ndarray
    exposure_us: int
    blur_px: float = 0.0
    origin: tuple[int, int] = (0, 0)
    upscale: float = 1.0
    foreground: bool = False

    @property
    def num_latent(self) -> int:
        return int(self.frames.shape[0])

    @property
    def middle(self) -> int:
        return self.num_latent // 2

    @property
    def sharp(self) -> np.ndarray:
        """The middle latent frame ``(C, H, W)`` (linear light)."""
        return self.frames[self.middle]


def frame_times_us(num_latent: int, exposure_us: float) -> np.ndarray:
    """Midpoint times ``(k + 1/2) T / K`` of ``K`` latent frames, float64 microseconds."""
    return (np.arange(num_latent, dtype=np.float64) + 0.5) * float(exposure_us) / num_latent


# --------------------------------------------------------------------------- the renderer


def _as_float_picture(picture: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` uint8/float picture -> ``(C, H, W)`` float32 sRGB in [0, 1]."""
    pic = np.asarray(picture)
    if pic.ndim == 2:
        pic = pic[..., None]
    if pic.ndim != 3:
        raise ValueError(f"a picture is (H, W) or (H, W, C), got shape {pic.shape}")
    if pic.dtype == np.uint8:
        out = pic.astype(np.float32) / 255.0
    elif pic.dtype == np.uint16:
        out = pic.astype(np.float32) / 65535.0
    else:
        out = np.clip(pic.astype(np.float32), 0.0, 1.0)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def _upscale(pic: np.ndarray, factor: float) -> np.ndarray:
    """Bicubic enlargement of a ``(C, H, W)`` float picture (values clipped to [0, 1])."""
    t = torch.from_numpy(pic)[None]
    h, w = pic.shape[1:]
    size = (int(math.ceil(h * factor)), int(math.ceil(w * factor)))
    out = F.interpolate(t, size=size, mode="bicubic", align_corners=False)
    return out[0].clamp(0.0, 1.0).numpy()


def _window(pic: np.ndarray, size: tuple[int, int], margin: int, need: tuple[int, int],
            rng: np.random.Generator) -> tuple[np.ndarray, torch.Tensor, int, int, float]:
    """A random window of the crop ``size`` plus ``margin`` on each side, from ``pic`` enlarged first when it
    is smaller than ``need``: ``(the picture as used, the window in linear light, y0, x0, enlargement)``."""
    h, w = size
    ph, pw = pic.shape[1:]
    factor = max(1.0, need[0] / ph, need[1] / pw)
    if factor > 1.0:
        pic = _upscale(pic, factor * 1.0001)
        ph, pw = pic.shape[1:]
    y0 = int(rng.integers(0, ph - (h + 2 * margin) + 1))
    x0 = int(rng.integers(0, pw - (w + 2 * margin) + 1))
    window = np.ascontiguousarray(pic[:, y0:y0 + h + 2 * margin, x0:x0 + w + 2 * margin])
    return pic, torch.from_numpy(srgb_to_linear_np(window)), y0, x0, factor


def _affine_sample(src: torch.Tensor, mats: np.ndarray, centre: tuple[float, float],
                   out_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bicubic resampling of ``src (C, Hs, Ws)`` through per-frame affine maps.

    ``mats`` ``(K, 2, 3)`` map centred output pixel coordinates ``p`` (x, y; zero at the frame
    centre) to source coordinates ``q = A p + b`` relative to the source pixel ``centre``
    (x, y).  Returns the ``(K, C, H, W)`` samples and the normalized sampling grid.
    """
    hs, ws = src.shape[-2:]
    h, w = out_hw
    sx, sy = 2.0 / (ws - 1), 2.0 / (hs - 1)
    theta = np.empty((mats.shape[0], 2, 3))
    for row, (sc, c0) in enumerate(((sx, centre[0]), (sy, centre[1]))):
        theta[:, row, 0] = sc * mats[:, row, 0] * (w - 1) / 2.0
        theta[:, row, 1] = sc * mats[:, row, 1] * (h - 1) / 2.0
        theta[:, row, 2] = sc * (mats[:, row, 2] + c0) - 1.0
    k = mats.shape[0]
    # the normalized grid, built as (row term + column term) per frame: cheaper than affine_grid
    th = torch.from_numpy(theta.astype(np.float32))
    u = torch.linspace(-1.0, 1.0, w) if w > 1 else torch.zeros(1)
    v = torch.linspace(-1.0, 1.0, h) if h > 1 else torch.zeros(1)
    grid = torch.empty(k, h, w, 2)
    for row in range(2):
        along_x = th[:, row, 0, None, None] * u[None, None, :] + th[:, row, 2, None, None]
        along_y = th[:, row, 1, None, None] * v[None, :, None]
        torch.add(along_x, along_y, out=grid[..., row])
    out = F.grid_sample(src[None].expand(k, -1, -1, -1), grid, mode="bicubic", padding_mode="border",
                        align_corners=True)
    return out, grid


class SceneRenderer:
    """Render latent frames of a picture seen by a moving camera (see the module docstring).

    Follows the GoPro protocol (Nah et al., CVPR 2017) that EV-JSCC trains on: the blurry frame
    averages sharp high-frame-rate frames; here the frames are rendered from one picture under a
    random smooth motion rather than recorded.

    Args:
        size: output ``(H, W)`` or a side length in pixels.
        blur_px: motion magnitude: the longest path, in pixels, that a point of the frame
            travels during the exposure; a number or a ``(low, high)`` range drawn uniformly.
        rotation: largest share of the blur caused by in-plane rotation (at the frame corners).
        zoom: largest share of the blur caused by zoom (at the frame corners).
        curvature: standard deviation of the quadratic and cubic terms of the trajectories,
            relative to the linear term (0: straight motion at constant speed).
        foreground: probability that a separately moving foreground patch is added.
        foreground_blur_px: motion magnitude of the patch (number or range); ``None``: as
            ``blur_px``.
        exposure_us: exposure ``T`` in microseconds.
        max_step_px: the largest motion of any pixel between consecutive latent frames.
        min_frames: the fewest latent frames (an odd number is used).
        max_frames: the most latent frames (a cap for extreme motion).

    Shape:
        :meth:`render` takes an ``(H0, W0, C)`` uint8 picture (or ``(H0, W0)``) and returns a
        :class:`LatentSequence` with frames ``(K, C, H, W)`` float32 in linear light.

    Example:
        >>> r = SceneRenderer(size=64, blur_px=10.0)
        >>> seq = r.render(np.full((100, 100, 3), 128, np.uint8), np.random.default_rng(0))
        >>> seq.frames.shape[1:]
        (3, 64, 64)
    """

    def __init__(self, *, size: int | tuple[int, int] = 128,
                 blur_px: float | tuple[float, float] = (8.0, 24.0), rotation: float = 0.3,
                 zoom: float = 0.2, curvature: float = 0.5, foreground: float = 0.5,
                 foreground_blur_px: float | tuple[float, float] | None = None,
                 exposure_us: int = 10_000, max_step_px: float = 1.0, min_frames: int = 7,
                 max_frames: int = 301) -> None:
        h, w = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if int(h) != h or int(w) != w or h < 8 or w < 8:
            raise ValueError(f"size must be at least 8 pixels per side, got {size!r}")
        self.height, self.width = int(h), int(w)
        self.blur_range = _range("blur_px", blur_px)
        self.fg_range = self.blur_range if foreground_blur_px is None else _range("foreground_blur_px",
                                                                                  foreground_blur_px)
        for name, v in (("rotation", rotation), ("zoom", zoom), ("curvature", curvature)):
            if not (math.isfinite(v) and 0 <= v <= 2):
                raise ValueError(f"{name} must lie in [0, 2], got {v!r}")
        if not 0 <= foreground <= 1:
            raise ValueError(f"foreground is a probability in [0, 1], got {foreground!r}")
        if int(exposure_us) != exposure_us or exposure_us < 1:
            raise ValueError(f"exposure_us must be a positive integer, got {exposure_us!r}")
        if not (max_step_px > 0):
            raise ValueError(f"max_step_px must be positive, got {max_step_px!r}")
        if int(min_frames) != min_frames or min_frames < 1:
            raise ValueError(f"min_frames must be a positive integer, got {min_frames!r}")
        if int(max_frames) != max_frames or max_frames < min_frames:
            raise ValueError(f"max_frames must be an integer >= min_frames, got {max_frames!r}")
        self.rotation, self.zoom, self.curvature = float(rotation), float(zoom), float(curvature)
        self.foreground = float(foreground)
        self.exposure_us = int(exposure_us)
        self.max_step_px = float(max_step_px)
        self.min_frames, self.max_frames = int(min_frames), int(max_frames)

    def describe(self) -> dict:
        return {"size": [self.height, self.width], "blur_px": list(self.blur_range),
                "foreground_blur_px": list(self.fg_range), "rotation": self.rotation, "zoom": self.zoom,
                "curvature": self.curvature, "foreground": self.foreground, "exposure_us": self.exposure_us,
                "max_step_px": self.max_step_px, "min_frames": self.min_frames, "max_frames": self.max_frames}

    # -- helpers -----------------------------------------------------------------------------

    def _probe(self) -> np.ndarray:
        """Frame corners, edge midpoints and centre, relative to the centre (x, y)."""
        hx, hy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        xs, ys = np.array([-hx, 0.0, hx]), np.array([-hy, 0.0, hy])
        return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)

    def _num_frames(self, speed: float) -> int:
        k = max(self.min_frames, int(math.ceil(speed / self.max_step_px)) + 1)
        k = min(k, self.max_frames)
        return k if k % 2 else k + 1

    # -- rendering ---------------------------------------------------------------------------

    def render(self, picture: np.ndarray, rng: np.random.Generator) -> LatentSequence:
        """Draw a motion, a crop position and (maybe) a foreground patch; render the frames."""
        pic = _as_float_picture(picture)
        h, w = self.height, self.width
        probe = self._probe()
        radius = float(np.linalg.norm(probe, axis=1).max())
        blur = float(rng.uniform(*self.blur_range))
        cam = _random_trajectory(rng, blur_px=blur, radius=radius, rotation=self.rotation, zoom=self.zoom,
                                 curvature=self.curvature, probe=probe)
        length, speed, disp = _path_stats(cam, probe)

        fg = None
        if rng.uniform() < self.foreground:
            fg = self._draw_foreground(rng, probe)
            _, fg_speed, _ = _path_stats(cam, fg["probe"], inner=fg["traj"], offset=fg["centre"])
            speed = max(speed, fg_speed)
            length = max(length, fg["length"])

        margin = int(math.ceil(disp)) + 4
        need_h, need_w = h + 2 * margin, w + 2 * margin
        if fg is not None:  # the patch texture is taken from the picture as well
            need_h, need_w = max(need_h, fg["tex"] + 4), max(need_w, fg["tex"] + 4)
        pic, src, y0, x0, factor = _window(pic, (h, w), margin, (need_h, need_w), rng)

        k = self._num_frames(speed)
        times = frame_times_us(k, self.exposure_us)
        s = times / self.exposure_us - 0.5
        cam_maps = _inverse_affine(cam, s)
        centre = (margin + (w - 1) / 2.0, margin + (h - 1) / 2.0)
        with torch.no_grad():
            frames, _ = _affine_sample(src, cam_maps, centre, (h, w))
            if fg is not None:
                frames = self._composite(frames, fg, pic, s, cam, cam_maps)
        frames = frames.clamp_(0.0, 1.0).numpy().astype(np.float32, copy=False)
        return LatentSequence(frames=frames, times_us=times, exposure_us=self.exposure_us, blur_px=length,
                              origin=(y0 + margin, x0 + margin), upscale=factor, foreground=fg is not None)

    def _draw_foreground(self, rng: np.random.Generator, probe: np.ndarray) -> dict:
        h, w = self.height, self.width
        side = min(h, w)
        rx = rng.uniform(0.12, 0.28) * side
        ry = rx * rng.uniform(0.6, 1.0)
        tilt = rng.uniform(0, math.pi)
        centre = np.array([rng.uniform(-0.3, 0.3) * w, rng.uniform(-0.3, 0.3) * h])
        ring = np.stack([rx * np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False)),
                         ry * np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False))], axis=-1)
        rot = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])
        fprobe = np.concatenate([ring @ rot.T, np.zeros((1, 2))])
        blur = float(rng.uniform(*self.fg_range))
        traj = _random_trajectory(rng, blur_px=blur, radius=max(rx, ry), rotation=self.rotation, zoom=0.0,
                                  curvature=self.curvature, probe=fprobe)
        length, _, disp = _path_stats(traj, fprobe)
        tex = int(math.ceil(2 * max(rx, ry) + 2 * disp)) + 8
        return {"rx": rx, "ry": ry, "tilt": tilt, "centre": centre, "traj": traj, "probe": fprobe,
                "length": length, "tex": tex, "flip": bool(rng.uniform() < 0.5),
                "tex_pos": (float(rng.uniform()), float(rng.uniform())), "shade": float(rng.uniform(0.6, 1.4))}

    def _composite(self, frames: torch.Tensor, fg: dict, pic: np.ndarray, s: np.ndarray, cam: Trajectory,
                   cam_maps: np.ndarray) -> torch.Tensor:
        """Paint the moving foreground patch over the background frames (soft elliptic edge)."""
        ph, pw = pic.shape[1:]
        n = fg["tex"]
        ty = int(fg["tex_pos"][0] * (ph - n))
        tx = int(fg["tex_pos"][1] * (pw - n))
        tex = pic[:, ty:ty + n, tx:tx + n]
        if fg["flip"]:
            tex = tex[:, ::-1, ::-1]
        tex_lin = torch.from_numpy(np.clip(srgb_to_linear_np(np.ascontiguousarray(tex)) * fg["shade"], 0, 1))
        # image point -> scene point (camera) -> object point (patch motion about its centre)
        obj_maps = _then(cam_maps, _inverse_affine(fg["traj"], s), np.asarray(fg["centre"]))
        # only the window that the patch sweeps over is resampled
        h, w = frames.shape[-2:]
        ring = fg["probe"][:-1] * 1.05
        obj = fg["traj"].apply(ring, s) + np.asarray(fg["centre"])[None, None]
        pos = np.concatenate([cam.apply(obj[i], s[i:i + 1])[0] for i in range(len(s))])
        x0 = int(np.clip(np.floor(pos[:, 0].min() + (w - 1) / 2.0) - 3, 0, w - 1))
        x1 = int(np.clip(np.ceil(pos[:, 0].max() + (w - 1) / 2.0) + 4, x0 + 1, w))
        y0 = int(np.clip(np.floor(pos[:, 1].min() + (h - 1) / 2.0) - 3, 0, h - 1))
        y1 = int(np.clip(np.ceil(pos[:, 1].max() + (h - 1) / 2.0) + 4, y0 + 1, h))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frames
        off = np.array([(x0 + x1 - 1) / 2.0 - (w - 1) / 2.0, (y0 + y1 - 1) / 2.0 - (h - 1) / 2.0])
        sub_maps = obj_maps.copy()
        sub_maps[:, :, 2] += (obj_maps[:, :, :2] @ off[:, None])[..., 0]
        half = (n - 1) / 2.0
        patch, grid = _affine_sample(tex_lin, sub_maps, (half, half), (y1 - y0, x1 - x0))
        # elliptic coordinates (u / rx, v / ry) of the object points, from the normalized grid
        c, si = math.cos(fg["tilt"]), math.sin(fg["tilt"])
        gx, gy = grid[..., 0], grid[..., 1]
        a = gx * (c * half / fg["rx"]) + gy * (si * half / fg["rx"])
        b = gy * (c * half / fg["ry"]) - gx * (si * half / fg["ry"])
        rho = torch.hypot(a, b)
        # signed distance to the ellipse edge, approximately in pixels; a one-pixel soft edge
        m = min(fg["rx"], fg["ry"])
        alpha = rho.mul_(-m).add_(m + 0.5).clamp_(0.0, 1.0)[:, None]
        window = frames[:, :, y0:y1, x0:x1]
        frames[:, :, y0:y1, x0:x1] = torch.lerp(window, patch, alpha)
        return frames


def _inverse_affine(traj: Trajectory, s: np.ndarray) -> np.ndarray:
    """``(K, 2, 3)`` maps ``q = A p + b`` from image points ``p`` back to scene points ``q``."""
    tx, ty, ang, zoom = traj.params(s)
    inv, c, si = np.exp(-zoom), np.cos(ang), np.sin(ang)
    m = np.empty((len(s), 2, 3))
    m[:, 0, 0], m[:, 0, 1] = inv * c, inv * si
    m[:, 1, 0], m[:, 1, 1] = -inv * si, inv * c
    m[:, 0, 2] = -(m[:, 0, 0] * tx + m[:, 0, 1] * ty)
    m[:, 1, 2] = -(m[:, 1, 0] * tx + m[:, 1, 1] * ty)
    return m


def _then(first: np.ndarray, second: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The affine map ``p -> second(first(p) - shift)``, all ``(K, 2, 3)``."""
    a = second[:, :, :2] @ first[:, :, :2]
    b = (second[:, :, :2] @ (first[:, :, 2] - shift[None])[..., None])[..., 0] + second[:, :, 2]
    return np.concatenate([a, b[..., None]], axis=-1)


def _range(name: str, value: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, (int, float, np.floating, np.integer)):
        lo = hi = float(value)
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
        raise ValueError(f"{name} must satisfy 0 <= low <= high (pixels), got {value!r}")
    return lo, hi


def check_picture(picture: np.ndarray, *, what: str = "picture") -> np.ndarray:
    """Validate an ``(H, W, 3)`` uint8 picture (grey pictures are expanded)."""
    pic = np.asarray(picture)
    if pic.ndim == 2:
        pic = np.stack([pic] * 3, axis=-1)
    if pic.ndim != 3 or pic.shape[-1] < 3:
        raise SemcomError(f"{what}: expected an RGB picture (H, W, 3), got shape {pic.shape}")
    return np.ascontiguousarray(pic[..., :3])
