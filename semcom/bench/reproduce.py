"""``semcom reproduce``: the EV-JSCC paper's figures, declared as data and run through the sweep runner.

Each curve figure is a set of sweeps (one per link) at one CBR and channel, drawn into one PNG
with PSNR, SSIM and DISTS panels; each sweep resumes like ``semcom run``.  The visual figure
(``evjscc-fig6``) is a grid: one test sample per row, the blurry input, each link's output with
its PSNR, and the ground truth.

Nothing a user keeps is overwritten by default: without ``--out``, a figure goes to
``results/reproduce/`` only with the options it was committed with (``--links`` alone is allowed
there: it resumes or recomputes those links' sweeps, which are the committed ones, and redraws the
figure from all of its sweeps).  Options that change a figure's numbers or grid (``--limit``,
``--snr``, ``--seed``, ``--repeats``; for the visual grid also ``--links``) put it in a folder of
its own named by them, ``results/reproduce/variants/<options>/`` (e.g. ``variants/n4_snr0-10/``
for ``--limit 4 --snr 0,10``), where it resumes like any other (:func:`figure_folder`).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from semcom.conventions import format_cbr, parse_snr
from semcom.errors import SemcomError
from semcom.registry import Registry, did_you_mean

if TYPE_CHECKING:
    import torch

DEFAULT_OUT = Path("results/reproduce")
#: the folder under :data:`DEFAULT_OUT` of figures whose options change them (:func:`figure_folder`)
VARIANTS = "variants"
#: rows of the visual grid unless ``--limit`` says otherwise
GRID_ROWS = 4

#: the four systems the paper compares, plus the ideal digital reference (dashed)
PAPER_LINKS = ("ev-jscc", "deepjscc-deblur", "deepjscc", "bpg-ldpc", "bpg-capacity")
STYLES: dict[str, dict[str, Any]] = {
    "ev-jscc": {"color": "tab:red"},
    "deepjscc-deblur": {"color": "tab:blue"},
    "deepjscc": {"color": "tab:green"},
    "bpg-ldpc": {"color": "tab:purple"},
    "bpg-capacity": {"color": "tab:purple", "linestyle": "--"},
    "softcast": {"color": "tab:gray"},
    "bpg-ldpc-events": {"color": "tab:brown"},
    "edi-tx-bpg-ldpc": {"color": "tab:orange"},
    "edi-tx-deepjscc": {"color": "tab:olive"},
    "oracle-bpg-capacity": {"color": "black", "linestyle": "--"},
    "image-deepjscc-resconv": {"color": "tab:red"},
    "image-deepjscc": {"color": "tab:green"},
    "image-deepjscc-swin": {"color": "tab:blue"},
    "image-bpg-ldpc": {"color": "tab:purple"},
    "image-bpg-capacity": {"color": "tab:purple", "linestyle": "--"},
}

#: the image task (no camera): each JSCC backbone's link beside the digital reference and its bound
IMAGE_LINKS = ("image-deepjscc-resconv", "image-deepjscc", "image-deepjscc-swin", "image-bpg-ldpc",
               "image-bpg-capacity")
#: the CBRs of the image task's PSNR-against-CBR row (the span JSCC papers plot)
IMAGE_CBRS = (1 / 96, 1 / 64, 1 / 48, 1 / 32, 1 / 24, 1 / 16, 1 / 12)

#: where-events-help: events spent at the receiver (first three) or at the sensor, beside the
#: frame-only links and the oracle (the sharp frame itself at capacity)
WHERE_EVENTS_LINKS = ("ev-jscc", "deepjscc-deblur", "deepjscc", "bpg-ldpc", "bpg-ldpc-events", "edi-tx-bpg-ldpc",
                      "edi-tx-deepjscc", "oracle-bpg-capacity")


@dataclass(frozen=True)
class Panel:
    """One (CBR, channel) setting of a curve figure.

    Args:
        sweeps: the folder (under the output folder) its sweeps go to; panels of two figures with
            the same setting share one, so that a link in both is computed once.
    """

    cbr: float
    channel: str = "awgn"
    channel_params: dict[str, Any] = field(default_factory=dict)
    sweeps: str = ""
    #: fixed SNR points (``--snr`` does not change them): a point of the figure's CBR axis
    snr: str | None = None

    @property
    def on_cbr_axis(self) -> bool:
        """Whether the panel is one CBR of the metrics-against-CBR row rather than curves against SNR."""
        return self.snr is not None

    @property
    def title(self) -> str:
        channel = "block Rayleigh" if self.channel == "rayleigh" and not self.channel_params else self.channel
        return f"{channel}, CBR {format_cbr(self.cbr)}" + (f", {self.snr} dB" if self.on_cbr_axis else "")


@dataclass(frozen=True)
class FigureSpec:
    """One reproducible figure.

    Args:
        name: the name ``semcom reproduce`` takes.
        description: one line for ``--list``.
        kind: ``"curves"`` (metrics against SNR) or ``"grid"`` (visual comparison).
        cbr: channel bandwidth ratio of every link.
        links: link names, drawn in this order.
        channel: channel name; ``channel_params`` its arguments.
        snr: default SNR points (curves) or the single SNR of a grid.
        panels: several settings in one figure (then ``cbr`` and ``channel`` are those of the
            first); a figure without them has one, its own.
        cbr_axis: CBRs of a last row of metrics against CBR at ``cbr_axis_snr`` dB (the plot JSCC
            papers publish beside the SNR curves); each CBR is a panel of its own sweeps.
    """

    name: str
    description: str
    kind: str
    cbr: float
    links: tuple[str, ...] = PAPER_LINKS
    channel: str = "awgn"
    channel_params: dict[str, Any] = field(default_factory=dict)
    snr: str = "0:20:2"
    panels: tuple[Panel, ...] = ()
    cbr_axis: tuple[float, ...] = ()
    cbr_axis_snr: str = "10"

    def settings(self) -> tuple[Panel, ...]:
        """The figure's panels (one, sweeping into the figure's own folder, unless declared), then
        one per CBR of its CBR axis."""
        curves = self.panels or (Panel(self.cbr, self.channel, dict(self.channel_params), self.name),)
        axis = tuple(Panel(c, self.channel, dict(self.channel_params), f"{self.name}/cbr-axis", snr=self.cbr_axis_snr)
                     for c in self.cbr_axis)
        return curves + axis


def _shared(fig: str, cbr: float, channel: str = "awgn") -> Panel:
    """A panel whose sweeps live in (and resume from) the folder of the figure ``fig``."""
    return Panel(cbr, channel, {}, fig)


#: figure name -> its declaration (``semcom reproduce --list``)
FIGURES = Registry("figure")
for _fig in (
    FigureSpec("evjscc-fig4", "PSNR/SSIM/DISTS vs SNR at CBR 1/48 on AWGN (paper Fig. 4)", "curves", 1 / 48),
    FigureSpec("evjscc-fig5", "PSNR/SSIM/DISTS vs SNR at CBR 1/96 on AWGN (paper Fig. 5)", "curves", 1 / 96),
    FigureSpec("evjscc-fig6", "visual comparison at CBR 1/48 on AWGN, 5 dB unless --snr (paper Fig. 6)", "grid", 1 / 48,
               links=("deepjscc", "deepjscc-deblur", "ev-jscc", "bpg-ldpc"), snr="5"),
    FigureSpec("evjscc-fig4-rayleigh", "Fig. 4 on block Rayleigh fading (not in the paper)", "curves", 1 / 48,
               channel="rayleigh"),
    FigureSpec("evjscc-fig5-rayleigh", "Fig. 5 on block Rayleigh fading (not in the paper)", "curves", 1 / 96,
               channel="rayleigh"),
    FigureSpec("where-events-help", "events spent at the sensor or at the receiver: AWGN and block Rayleigh, "
               "CBR 1/48 and 1/96 (issue 15)", "curves", 1 / 48, links=WHERE_EVENTS_LINKS, snr="0:20:4",
               panels=(_shared("evjscc-fig4", 1 / 48), _shared("evjscc-fig5", 1 / 96),
                       _shared("evjscc-fig4-rayleigh", 1 / 48, "rayleigh"),
                       _shared("evjscc-fig5-rayleigh", 1 / 96, "rayleigh"))),
    FigureSpec("jscc-image", "image task (a sharp held-out photo sent and scored against itself): PSNR/SSIM vs "
               "SNR at CBR 1/48 and 1/96, and vs CBR at 10 dB, each JSCC backbone beside BPG + LDPC and BPG at "
               "capacity (issue 32)", "curves", 1 / 48, links=IMAGE_LINKS, snr="0:20:5",
               panels=(_shared("jscc-image", 1 / 48), _shared("jscc-image", 1 / 96)), cbr_axis=IMAGE_CBRS),
):
    FIGURES.add(_fig.name, _fig, help=_fig.description)
del _fig


def get_figure(name: str) -> FigureSpec:
    if name not in FIGURES:
        raise SemcomError(f"unknown figure {name!r}{did_you_mean(name, FIGURES)} (see `semcom reproduce --list`)")
    return FIGURES[name]


def _num_tag(value: float) -> str:
    return f"{value:g}".replace("-", "m").replace(".", "p")


def snr_tag(points: list[float]) -> str:
    """SNR points as a folder-name part: ``0-10`` (0 and 10 dB), ``0-20by4`` (0 to 20 in 4 dB steps),
    ``m5-5by5``; a long irregular list is shortened with a digest."""
    if len(points) >= 3:
        steps = {round(b - a, 9) for a, b in zip(points, points[1:])}
        if len(steps) == 1 and steps != {0}:
            return f"{_num_tag(points[0])}-{_num_tag(points[-1])}by{_num_tag(steps.pop())}"
    tag = "-".join(_num_tag(p) for p in points)
    if len(tag) > 40:
        digest = hashlib.sha1(repr([float(p) for p in points]).encode()).hexdigest()[:6]
        tag = f"{_num_tag(points[0])}-{_num_tag(points[-1])}x{len(points)}-{digest}"
    return tag


def variant_options(fig: FigureSpec, *, snr: str | None = None, limit: int | None = None, repeats: int = 1,
                    seed: int = 0, links: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """The options that make ``fig`` differ from its committed version, each as ``(the option as
    given, its folder-name part)``: the number of frames (curves: any ``--limit``; grid: rows other
    than 4), SNR points other than the figure's, repeats (curves), seed, and, for the grid only,
    a subset of links (a curve figure is drawn from every sweep of it on disk, so ``--links``
    recomputes committed sweeps without changing what the figure shows)."""
    changes: list[tuple[str, str]] = []
    grid = fig.kind == "grid"
    if limit is not None and not (grid and limit == GRID_ROWS):
        changes.append((f"--limit {limit}", f"n{limit}"))
    if snr is not None:
        points, default = parse_snr(snr), parse_snr(fig.snr)
        if grid:
            points, default = points[:1], default[:1]  # the grid uses the first point only
        if [float(p) for p in points] != [float(p) for p in default]:
            changes.append((f"--snr {snr}", "snr" + snr_tag(points)))
    if repeats != 1 and not grid:
        changes.append((f"--repeats {repeats}", f"r{repeats}"))
    if seed != 0:
        changes.append((f"--seed {seed}", f"seed{seed}"))
    if grid and links is not None and tuple(links) != tuple(fig.links):
        names = "+".join(re.sub(r"[^A-Za-z0-9.+-]+", "-", Path(lk).name) for lk in links)
        if len(names) > 60:
            names = f"{len(links)}-{hashlib.sha1(names.encode()).hexdigest()[:8]}"
        changes.append((f"--links {','.join(links)}", f"links-{names}"))
    return changes


def figure_folder(fig: FigureSpec, out_dir: Path | str | None = None, **options: Any) -> Path:
    """Where ``fig`` is written: ``out_dir`` when given; else :data:`DEFAULT_OUT` with the options it
    was committed with, or ``DEFAULT_OUT/variants/<tags>`` when ``options`` (those of
    :func:`variant_options`) change it, e.g. ``results/reproduce/variants/n4_snr0-10`` for
    ``--limit 4 --snr 0,10``: the committed figure and its manifest are never overwritten by default."""
    if out_dir is not None:
        return Path(out_dir)
    changes = variant_options(fig, **options)
    return DEFAULT_OUT / VARIANTS / "_".join(tag for _, tag in changes) if changes else DEFAULT_OUT


def variant_notice(names: list[str], folder: Path, **options: Any) -> str:
    """One line saying why figures go to a variant folder and where."""
    changes = list(dict.fromkeys(opt for n in names for opt, _ in variant_options(FIGURES[n], **options)))
    return (f"{', '.join(changes)} change{'s' if len(changes) == 1 else ''} {', '.join(names)}: writing to "
            f"{folder}/ (the committed {'figure is' if len(names) == 1 else 'figures are'} kept; --out DIR "
            "writes elsewhere)")


def panel_configs(fig: FigureSpec, index: int, *, out_dir: Path, snr: str | None = None, limit: int | None = None,
                  repeats: int = 1, seed: int = 0, links: tuple[str, ...] | None = None) -> list[tuple[Any, Path]]:
    """The sweeps of one panel: ``(SweepConfig, folder)`` per link."""
    from semcom.bench.sweep import SweepConfig

    panel = fig.settings()[index]
    points = tuple(parse_snr(panel.snr or snr or fig.snr))
    return [(SweepConfig(link=link, cbr=panel.cbr, snr_db=points, channel=panel.channel,
                         channel_params=dict(panel.channel_params), limit=limit, repeats=repeats, seed=seed),
             out_dir / panel.sweeps) for link in _own(fig, links)]


def _own(fig: FigureSpec, links: tuple[str, ...] | None) -> tuple[str, ...]:
    """The figure's links a ``--links`` subset names (all of them without one)."""
    return fig.links if links is None else tuple(lk for lk in links if lk in fig.links)


def sweep_key(cfg: Any, folder: Path) -> tuple:
    """What tells two figures' sweeps apart (the same key: one sweep, computed once)."""
    return (str(folder), cfg.link, cfg.cbr, cfg.channel, repr(sorted(cfg.channel_params.items())), cfg.limit,
            cfg.repeats, cfg.seed)


def panel_sweeps(fig: FigureSpec, index: int, *, out_dir: Path, snr: str | None = None, limit: int | None = None,
                 repeats: int = 1, seed: int = 0, links: tuple[str, ...] | None = None, progress: bool = True,
                 notice: Callable[[str], None], overwrite: bool = False,
                 recomputed: set[tuple] | None = None) -> list[Path]:
    """Run (or resume; ``overwrite``: run anew) every link's sweep of one panel; their CSV files.

    ``recomputed`` collects the sweeps this command has already run anew, so that a sweep two
    figures share is recomputed once under ``overwrite``.
    """
    from semcom.bench.sweep import run_sweep

    csvs = []
    for cfg, folder in panel_configs(fig, index, out_dir=out_dir, snr=snr, limit=limit, repeats=repeats, seed=seed,
                                     links=links):
        key = sweep_key(cfg, folder)
        anew = overwrite and key not in (recomputed if recomputed is not None else set())
        try:
            csvs.append(run_sweep(cfg, out_dir=folder, progress=progress, notice=notice, overwrite=anew))
            if anew and recomputed is not None:
                recomputed.add(key)
        except SemcomError as exc:
            notice(f"{fig.name}: skipped {cfg.link} ({fig.settings()[index].title}): {exc}")
    return csvs


def ray_sweeps(names: list[str], *, address: str | None, progress: bool, notice: Callable[[str], None],
               out_dir: Path, overwrite: bool = False, recomputed: set[tuple] | None = None,
               **kwargs: Any) -> dict[tuple[str, int], list[Path]]:
    """Every sweep of the curve figures ``names`` as Ray tasks at once (a sweep two figures share
    once); the CSV files per ``(figure, panel)``."""
    from semcom.bench.distributed import run_sweeps_ray

    units = [(n, i) for n in names for i in range(len(FIGURES[n].settings()))]
    unique: dict[tuple, tuple[Any, Path]] = {}
    members: dict[tuple[str, int], list[tuple]] = {}
    for n, i in units:
        members[(n, i)] = []
        for cfg, folder in panel_configs(FIGURES[n], i, out_dir=out_dir, **kwargs):
            key = sweep_key(cfg, folder)
            unique.setdefault(key, (cfg, folder))
            members[(n, i)].append(key)
    keys = list(unique)
    refused: dict[tuple, str] = {}

    def on_refused(index: int, exc: SemcomError) -> None:
        refused[keys[index]] = str(exc)

    paths = run_sweeps_ray([unique[k] for k in keys], address=address, overwrite=overwrite, progress=progress,
                           notice=notice, refused=on_refused)
    found = dict(zip(keys, paths))
    out: dict[tuple[str, int], list[Path]] = {}
    for (n, i), ks in members.items():
        out[(n, i)] = [found[k] for k in ks if found[k] is not None]
        for k in ks:
            if k in refused:
                notice(f"{n}: skipped {k[1]} ({FIGURES[n].settings()[i].title}): {refused[k]}")
    return out


def figure_sweeps(fig: FigureSpec, *, out_dir: Path, limit: int | None = None, repeats: int = 1, seed: int = 0
                  ) -> list[list[tuple[str, Path]]]:
    """Per panel, ``(link, CSV)`` of every sweep of the figure found under ``out_dir`` (in the
    figure's link order), whichever command computed it: a figure is drawn from all of them."""
    from semcom.bench.identity import output_stem

    found = []
    for i in range(len(fig.settings())):
        panel = []
        for cfg, folder in panel_configs(fig, i, out_dir=out_dir, limit=limit, repeats=repeats, seed=seed):
            csv = folder / f"{output_stem(cfg.link, cfg.channel, cfg.cbr, cfg)}.csv"
            if csv.exists() and csv.stat().st_size > 0:
                panel.append((cfg.link, csv))
        found.append(panel)
    return found


def manifest_path(out_dir: Path, name: str) -> Path:
    """The manifest written beside a figure's PNG."""
    return Path(out_dir) / f"{name}.manifest.json"


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def draw_figure(fig: FigureSpec, *, out_dir: Path, limit: int | None = None, repeats: int = 1, seed: int = 0) -> Path:
    """The PNG of a curve figure from every sweep of it under ``out_dir``, and its manifest
    (``<name>.manifest.json``: the links drawn per panel, each sweep file with its SHA-256 and
    configuration key, and the links the figure lacks)."""
    from semcom.bench.plots import plot_curves, plot_grid
    from semcom.bench.results import read_json, write_json

    sweeps = figure_sweeps(fig, out_dir=out_dir, limit=limit, repeats=repeats, seed=seed)
    csvs = [[p for _, p in panel] for panel in sweeps]
    if not any(csvs):
        raise SemcomError(f"{fig.name}: no link could be run")
    png = out_dir / f"{fig.name}.png"
    options = [opt for opt, _ in variant_options(fig, limit=limit, repeats=repeats, seed=seed)]
    title = fig.description + (f" [{' '.join(options)}]" if options else "")
    panels = fig.settings()
    if len(panels) == 1:
        plot_curves(csvs[0], png, title=title, styles=STYLES)
    else:
        axis = [c for p, found in zip(panels, csvs) if p.on_cbr_axis for c in found]
        plot_grid([(p.title, c) for p, c in zip(panels, csvs) if not p.on_cbr_axis], png, title=title,
                  styles=STYLES, cbr_row=(f"{fig.channel}, {fig.cbr_axis_snr} dB", axis) if axis else None)
    manifest = {"figure": fig.name, "png": png.name, "panels": []}
    for panel, found in zip(fig.settings(), sweeps):
        drawn = [link for link, _ in found]
        manifest["panels"].append({
            "title": panel.title, "links": drawn, "missing": [lk for lk in fig.links if lk not in drawn],
            "sweeps": [{"link": link, "csv": csv.relative_to(out_dir).as_posix(), "sha256": file_sha256(csv),
                        "config_key": read_json(csv.with_suffix(".json")).get("config_key")} for link, csv in found]})
    write_json(manifest_path(out_dir, fig.name), manifest)
    return png


def run_curves(fig: FigureSpec, *, out_dir: Path, **kwargs: Any) -> Path:
    """Run (or resume) the figure's sweeps (``links``: those only) and draw its PNG from all of its
    sweeps (arguments: :func:`panel_sweeps`)."""
    for i in range(len(fig.settings())):
        panel_sweeps(fig, i, out_dir=out_dir, **kwargs)
    return draw_figure(fig, out_dir=out_dir, limit=kwargs.get("limit"), repeats=kwargs.get("repeats", 1),
                       seed=kwargs.get("seed", 0))


def run_grid(fig: FigureSpec, *, out_dir: Path, snr: str | None = None, rows: int = 4, seed: int = 0,
             links: tuple[str, ...] | None = None, notice: Callable[[str], None]) -> Path:
    """Visual comparison: blurry input, each link's output (with PSNR), ground truth."""
    import matplotlib
    import torch

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.bench.results import CsvWriter
    from semcom.link import Link, find_link
    from semcom.metrics.functional import psnr
    from semcom.registry import SOURCES
    from semcom.sources.base import collate

    snr_db = parse_snr(snr or fig.snr)[0]
    shown: list[tuple[str, torch.Tensor]] = []
    batch = None
    for name in _own(fig, links):
        try:
            spec = find_link(name)
            link = Link(spec, cbr=fig.cbr).eval()
            if batch is None:
                ds = SOURCES.build(spec.source.name, **spec.source.params, split="test", limit=rows)
                batch = collate([ds[i] for i in range(len(ds))])
            label, output = _grid_output(link, batch, name, snr_db=snr_db, seed=seed)
            shown.append((label, output))
        except SemcomError as exc:
            notice(f"{fig.name}: skipped {name}: {exc}")
    if batch is None or not shown:
        raise SemcomError(f"{fig.name}: no link could be run")
    cols = [("blurry input", batch.blurry)] + shown + [("ground truth", batch.sharp)]
    n = batch.size
    csv_path = out_dir / f"{fig.name}.csv"
    csv_path.unlink(missing_ok=True)
    writer = CsvWriter(csv_path, columns=["sample", "column", "snr_db", "cbr", "psnr"])
    fig_, axes = plt.subplots(n, len(cols), figsize=(2.3 * len(cols), 2.4 * n), squeeze=False,
                              constrained_layout=True)
    for i in range(n):
        for j, (label, imgs) in enumerate(cols):
            ax = axes[i][j]
            ax.imshow(imgs[i].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            value = psnr(imgs[i:i + 1], batch.sharp[i:i + 1]).item()
            if label != "ground truth":
                writer.write({"sample": batch.names[i], "column": label, "snr_db": snr_db, "cbr": fig.cbr,
                              "psnr": value})
            title = label if label == "ground truth" else f"{label}\n{value:.2f} dB"
            if i == 0 or label != "ground truth":
                ax.set_title(title, fontsize=8)
    fig_.suptitle(f"visual comparison at CBR {format_cbr(fig.cbr)}, {fig.channel} {snr_db:g} dB SNR; "
                  "PSNR against the sharp frame", fontsize=9)
    png = out_dir / f"{fig.name}.png"
    fig_.savefig(png, dpi=110)
    plt.close(fig_)
    return png


def _grid_output(link: Any, batch: Any, name: str, *, snr_db: float, seed: int) -> tuple[str, "torch.Tensor"]:
    """One link's output for the grid; a link that chooses among configurations (BPG + LDPC's MCS)
    uses the one scoring the best mean PSNR on the shown frames at this SNR, as the curve figures'
    per-SNR envelope does over the whole set (its name goes in the column's label)."""
    import torch

    from semcom.bench.sweep import tried_configurations
    from semcom.metrics.functional import psnr

    def run() -> "torch.Tensor":
        with torch.no_grad():
            return link(batch, snr_db=snr_db, generator=torch.Generator().manual_seed(seed)).output

    if not link.codec.variants():
        return name, run()
    best, best_out, best_score = None, None, -math.inf
    for variant in tried_configurations(link, snr_db, all_configs=False):
        link.codec.set_variant(variant)
        out = run()
        score = float(psnr(out, link.target(batch)).mean())
        if score > best_score:
            best, best_out, best_score = variant, out, score
    return f"{name} ({best})", best_out


_SAID: set[str] = set()


def once_to_stderr(msg: str) -> None:
    """Print a notice to stderr unless this process has printed it already (the DISTS notice
    would otherwise repeat for every sweep of every figure)."""
    if msg not in _SAID:
        _SAID.add(msg)
        print(msg, file=sys.stderr)


def reproduce(name: str, *, out_dir: Path | str | None = None, snr: str | None = None, limit: int | None = None,
              repeats: int = 1, seed: int = 0, links: tuple[str, ...] | None = None, progress: bool = True,
              notice: Callable[[str], None] | None = None, overwrite: bool = False,
              recomputed: set[tuple] | None = None) -> Path:
    """Reproduce one figure; returns its PNG path (``overwrite``: recompute its sweeps, those in
    ``recomputed`` excepted: see :func:`panel_sweeps`).  Without ``out_dir`` the figure goes where
    :func:`figure_folder` says: the committed folder, or a variant folder when the options change it."""
    notice = notice or once_to_stderr
    from semcom.bench.output import OutputFolder

    fig = get_figure(name)
    options = dict(snr=snr, limit=limit, repeats=repeats, seed=seed, links=links)
    target = figure_folder(fig, out_dir, **options)
    if out_dir is None and target != DEFAULT_OUT:
        notice(variant_notice([name], target, **options))
    with OutputFolder(target) as folder:  # a refused figure leaves no empty folder
        if fig.kind == "grid":
            return run_grid(fig, out_dir=folder, snr=snr, rows=limit or GRID_ROWS, seed=seed, links=links,
                            notice=notice)
        return run_curves(fig, out_dir=folder, snr=snr, limit=limit, repeats=repeats, seed=seed, links=links,
                          progress=progress, notice=notice, overwrite=overwrite, recomputed=recomputed)


def _reproduce_into(out: Path, names: list[str], options: dict[str, Any], *, jobs: int | None, executor: str,
                    address: str | None, overwrite: bool, quiet: bool) -> None:
    """Reproduce the figures ``names`` into the folder ``out`` (the curve figures' sweeps in parallel
    processes or on Ray, sharing the sweeps two figures have in common), echoing each PNG."""
    kwargs = dict(out_dir=out, **options, overwrite=overwrite, recomputed=set())
    curves = [n for n in names if FIGURES[n].kind == "curves"]
    groups = _sweep_groups(curves)
    jobs = min(len(groups), jobs if jobs is not None else (os.cpu_count() or 1))
    if curves and (executor == "ray" or jobs > 1):  # every panel computed first, then each figure drawn here
        from semcom.bench.output import OutputFolder

        with OutputFolder(out) as folder:
            kwargs["out_dir"] = folder
            if executor == "ray":
                ray_sweeps(curves, address=address, progress=not quiet, notice=once_to_stderr, **kwargs)
            else:
                _pool_sweeps(groups, kwargs, jobs)
            # each figure is drawn from every sweep of it on disk, not only from those just run
            for n in curves:
                png = draw_figure(FIGURES[n], out_dir=folder, limit=options["limit"], repeats=options["repeats"],
                                  seed=options["seed"])
                click.echo(f"{n}: {png}")
        names = [n for n in names if n not in curves]
    for n in names:
        png = reproduce(n, progress=not quiet, **kwargs)
        click.echo(f"{n}: {png}")


def _write_tables() -> None:
    """Rewrite the generated blocks of the docs in the current folder (a checkout of semcom)."""
    from semcom.bench.tables import DOC_FILES, write_tables

    root = Path.cwd()
    if not all((root / f).exists() for f in DOC_FILES):
        raise SemcomError(f"--tables rewrites {' and '.join(DOC_FILES)}: run it from the root of a semcom checkout")
    changed = write_tables(root)
    click.echo(f"tables: {len(changed)} block(s) regenerated" + (f" ({', '.join(changed)})" if changed else ""))


def _pool_sweeps(groups: list[list[tuple[str, int]]], kwargs: dict[str, Any], jobs: int
                 ) -> dict[tuple[str, int], list[Path]]:
    """The panels' sweeps on ``jobs`` local processes, one group (sweeps folder) at a time per process,
    the longest first (``groups`` come in that order: :func:`_sweep_groups`)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // jobs)
    found: dict[tuple[str, int], list[Path]] = {}
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        for done in pool.map(_run_group, groups, [kwargs] * len(groups), [threads] * len(groups)):
            found.update(done)
    return found


def _sweep_groups(names: list[str], results: Path = DEFAULT_OUT) -> list[list[tuple[str, int]]]:
    """The panels of curve figures, ``(figure, panel index)``, grouped by the folder their sweeps go to
    (panels that share sweeps are in one group and one process, so a shared sweep is computed once; in
    the figures' order, so that the later panel resumes it), the groups longest first: by the evaluation
    seconds recorded in the committed sweeps of that folder under ``results`` (a group without any
    counts as unknown and goes first).  With more groups than processes, handing out the longest first
    keeps one process from finishing a long group alone at the end.  The groups share source encodings
    through the machine's encodings folder."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for n in names:
        for i, panel in enumerate(FIGURES[n].settings()):
            groups.setdefault(panel.sweeps or n, []).append((n, i))
    cost = {folder: _recorded_seconds(Path(results) / folder) for folder in groups}
    order = sorted(groups, key=lambda f: -(math.inf if cost[f] is None else cost[f]))
    return [groups[f] for f in order]


def _recorded_seconds(folder: Path) -> float | None:
    """Sum of the ``seconds`` column of the sweep CSVs in ``folder`` (``None``: none there)."""
    import csv

    total, found = 0.0, False
    for path in sorted(folder.glob("*.csv")):
        if path.name.endswith(("_frames.csv", "_configs.csv")):
            continue
        try:
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    try:
                        total += float(row.get("seconds") or 0.0)
                        found = True
                    except ValueError:
                        continue
        except OSError:
            continue
    return total if found else None


def _run_group(units: list[tuple[str, int]], kwargs: dict[str, Any], threads: int) -> dict[tuple[str, int], list[Path]]:
    """Worker: the sweeps of the panels ``units`` in this process (quietly), with ``threads`` torch threads."""
    import torch

    torch.set_num_threads(threads)
    kwargs = {**kwargs, "recomputed": set()}  # a shared sweep's panels are in one group (same folder)
    return {(n, i): panel_sweeps(FIGURES[n], i, progress=False, notice=once_to_stderr, **kwargs) for n, i in units}
