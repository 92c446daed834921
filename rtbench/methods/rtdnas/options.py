"""Options shared by ``method=msnas`` and ``method=rtdnas``: the numbers of paths N_l and the ``msnas`` grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtbench.errors import ConfigError
from rtbench.spaces.msnas import MSNASConfig, path_counts


def parse_n_paths(text: str) -> tuple[int, ...]:
    """``"3,5,7"`` -> ``(3, 5, 7)``: distinct positive N_l values, in the order given; ConfigError otherwise."""
    try:
        values = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"method.paths='{text}' must be a comma list of integers, e.g. method.paths=3,5,7") from None
    if not values or min(values) < 1 or len(set(values)) != len(values):
        raise ConfigError(f"method.paths='{text}' must list distinct numbers of paths N_l >= 1, e.g. method.paths=3,5,7")
    return values


@dataclass
class MSNASOptions:
    """Options shared by ``msnas`` and ``rtdnas``: the N_l values and the grid of the ``msnas`` space.

    Attributes:
        paths: comma list of N_l, the numbers of paths of the derived networks (one candidate each).
        layers, scales, channels: the supernet's grid and base width (``MSNASConfig``; seed 000
            §3.1: 10 layers, scales 1 to 1/8). Smaller values make small test searches.
    """

    paths: str = "7"
    layers: int = 10
    scales: int = 4
    channels: int = 8

    def __post_init__(self) -> None:
        for name in ("layers", "scales", "channels"):
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
        return parse_n_paths(self.paths)

    def space_config(self) -> MSNASConfig:
        return MSNASConfig(layers=self.layers, scales=self.scales, channels=self.channels)

    def space_options(self) -> dict[str, Any]:
        """The space options as ``MSNASSpace.op_instances`` takes them (which op instances the table needs)."""
        return {"layers": self.layers, "scales": self.scales, "channels": self.channels}

    def n_legal_paths(self) -> int:
        cfg = self.space_config()
        arriving, _ = path_counts(cfg.layers, cfg.scales)
        return arriving[cfg.layers][0]
