"""Options shared by ``method=msnas`` and ``method=rtdnas``: the numbers of paths N_l and the ``msnas`` grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtbench.errors import ConfigError
from rtbench.spaces.msnas import MSNASConfig, path_counts

AUTO = "auto"
"""``method.paths`` item that asks for the largest N_l whose network meets the bounds (``PathDecoder.auto``)."""


AUTO_SEARCH_PATHS = 7
"""N_l that eq. 2's estimate prices when ``method.paths`` is ``auto`` alone (and ``method.search_paths=0``):
seed 000's Table 1 goes up to N_l = 7 and its Table 2 networks have N_l = 6-8."""


def parse_paths(text: str) -> tuple[tuple[int, ...], bool]:
    """``"3,5,7"`` -> ``((3, 5, 7), False)``, ``"auto"`` -> ``((), True)``, ``"3,auto"`` -> ``((3,), True)``:
    distinct positive N_l values in the order given, and whether ``auto`` is listed; ConfigError otherwise."""
    items = [v.strip() for v in str(text).split(",")]
    auto = AUTO in items
    try:
        values = tuple(int(v) for v in items if v != AUTO)
    except ValueError:
        raise ConfigError(f"method.paths='{text}' must be a comma list of integers or auto, e.g. method.paths=3,5,7") from None
    if items.count(AUTO) > 1 or (values and min(values) < 1) or len(set(values)) != len(values) or not (values or auto):
        raise ConfigError(f"method.paths='{text}' must list distinct numbers of paths N_l >= 1 (or auto), e.g. method.paths=3,5,7")
    return values, auto


def parse_n_paths(text: str) -> tuple[int, ...]:
    """``"3,5,7"`` -> ``(3, 5, 7)``: the explicit N_l values of ``method.paths`` (without ``auto``)."""
    return parse_paths(text)[0]


@dataclass
class MSNASOptions:
    """Options shared by ``msnas`` and ``rtdnas``: the N_l values and the grid of the ``msnas`` space.

    Attributes:
        paths: comma list of N_l, the numbers of paths of the derived networks (one candidate each),
            and/or ``auto``: decode N_l = 1..``max_paths`` and keep the largest N_l whose network
            meets the real-time bounds by prediction, the method's *entry* candidate
            (``PathDecoder.auto``).
        max_paths: N_max of ``auto``, capped at the grid's number of legal paths. 10 by default:
            the GA's gene pool holds the top 10 paths (seed 000 §3.1), so N_l = 10 is the whole pool
            and a larger N_l would leave the GA no choice; the paper's networks have N_l <= 8.
        max_identity: the most ``identity`` edges a derived cell keeps (``derive_cells``, P-DARTS's
            cap of M = 2 skip-connects; the cell has 5 edges, so 5 lifts the cap). Ours: without it,
            eq. 2 (and HW-NAS's FLOPs term) drove every edge of the ACDC quick searches to identity
            (issue 12: B = 30 / 50 / 70 all derived an all-identity cell, 0.08-0.13 GFLOPs, Dice
            0.35-0.43 after 2 epochs; HW-NAS N_l = 6-8: Dice 0.48 after 8), a network with no
            convolution in its cells, while the bound can be met by taking fewer paths instead.
        layers, scales, channels: the supernet's grid and base width (``MSNASConfig``; seed 000
            §3.1 gives the 10 layers; it gives no number of scales, see ``MSNASConfig.scales`` for
            our 4). Smaller values make small test searches.
    """

    paths: str = "7"
    max_paths: int = 10
    max_identity: int = 2
    layers: int = 10
    scales: int = 4
    channels: int = 8

    def __post_init__(self) -> None:
        if self.max_identity < 0:
            raise ConfigError(f"method.max_identity={self.max_identity} is out of range; expected >= 0")
        for name in ("layers", "scales", "channels", "max_paths"):
            if getattr(self, name) < 1:
                raise ConfigError(f"method.{name}={getattr(self, name)} is out of range; expected >= 1")
        k = MSNASConfig.partial_k
        if self.channels % k:
            raise ConfigError(f"method.channels={self.channels} is out of range; expected a multiple of {k} (partial channels 1/{k})")
        n_legal = self.n_legal_paths()
        too_many = [n for n in self.n_paths() if n > n_legal]
        if too_many:
            raise ConfigError(
                f"method.paths={self.paths}: N_l={too_many[0]} paths asked for, but a grid of {self.layers} layers x "
                f"{self.scales} scales has only {n_legal} legal paths"
            )

    def n_paths(self) -> tuple[int, ...]:
        """The explicit N_l values of ``paths``, in the order given."""
        return parse_paths(self.paths)[0]

    def auto(self) -> bool:
        """Whether ``paths`` lists ``auto``."""
        return parse_paths(self.paths)[1]

    def estimate_paths(self) -> int:
        """The N_l whose derived network the search's latency estimate prices: the largest N_l of ``paths``,
        else (``auto`` alone) ``AUTO_SEARCH_PATHS``, capped at the number of legal paths."""
        return max(self.n_paths(), default=min(AUTO_SEARCH_PATHS, self.n_legal_paths()))

    def auto_paths(self) -> tuple[int, ...]:
        """The N_l values ``auto`` decodes: 1..N_max, N_max = min(``max_paths``, number of legal paths)."""
        return tuple(range(1, min(self.max_paths, self.n_legal_paths()) + 1))

    def space_config(self) -> MSNASConfig:
        return MSNASConfig(layers=self.layers, scales=self.scales, channels=self.channels)

    def space_options(self) -> dict[str, Any]:
        """The space options as ``MSNASSpace.op_instances`` takes them (which op instances the table needs)."""
        return {"layers": self.layers, "scales": self.scales, "channels": self.channels}

    def n_legal_paths(self) -> int:
        cfg = self.space_config()
        arriving, _ = path_counts(cfg.layers, cfg.scales)
        return arriving[cfg.layers][0]
