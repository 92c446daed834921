"""The HW-NAS supernet search: RT-DNAS's search machinery with the FLOPs-regularised loss of ``objective``.

``FlopsSearch`` is ``rtbench.methods.rtdnas.search.SupernetSearch`` unchanged in everything but
the architecture loss: the same supernet, first-order bi-level scheme (architecture step on a
search-val batch, then weight step on a search-train batch with ``L_a``), optimisers (SGD,
momentum 0.9, cosine 0.01 -> 0.001, weight decay 3e-4, seed 000 §3.1), warm-up epochs, seeded
batches and per-epoch checkpoints. Seed 000 re-ran HW-NAS "with the same exploration space", so
sharing the search keeps the comparison to the loss alone.

How the loss is changed without editing RT-DNAS's loop. The loop is run as MS-NAS's (no latency
bound: its architecture loss is ``L_a``), and a step pre-hook on the architecture optimiser adds
the gradient of ``w * F / F_ref`` to the architecture parameters' gradients just before each
architecture step. Gradients add, so the step is that of ``hwnas_objective`` =
``L_a + w * F / F_ref``; weight steps are untouched (``F`` does not depend on the weights, the same
argument as RT-DNAS's for eq. 2). ``F`` depends on the eq. 1 block logits only, so the betas'
gradients are ``L_a``'s.

The loop stores ``F / F_ref`` where RT-DNAS stores ``L_t`` (it is the loop's cost estimate); the
history and progress reports name it ``flops_ratio`` and report ``loss`` as the objective.

Resume: the checkpoint is ``<checkpoint_dir>/hwnas_search.pt`` (so it never meets an RT-DNAS
checkpoint), written after every epoch, and resumes only under the same settings: ``flops_weight``,
the estimate and ``F_ref`` are part of the settings' fingerprint (``SearchSettings.latency_estimate``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.optim import Optimizer
from torch.utils.data import DataLoader

from rtbench.methods.hwnas.objective import FlopsRatio
from rtbench.methods.rtdnas.search import SearchSettings, SupernetSearch
from rtbench.spaces.msnas import MSNASSupernet

CHECKPOINT = "hwnas_search.pt"

Report = Callable[..., None]


class FlopsSearch(SupernetSearch):
    """Searches ``supernet`` in place on ``L_a + flops_weight * F / F_ref`` (see the module docstring).

    Args:
        supernet: the ``msnas`` supernet, on the device to search on, freshly built under the seed.
        flops: ``F / F_ref`` over the supernet's eq. 1 weights (``FlopsRatio``).
        train, val: the search-train (weights) and search-val (architecture) loaders.
        settings: epochs, steps, warm-up, optimiser settings; ``latency_bound_ms`` must be None.
        checkpoint_dir: folder of the per-epoch checkpoint.
        seed: seeds each epoch's data order and augmentation.
        flops_weight: ``w`` (>= 0; 0 searches on ``L_a`` alone, as MS-NAS).
    """

    def __init__(
        self,
        supernet: MSNASSupernet,
        flops: FlopsRatio,
        train: DataLoader,
        val: DataLoader,
        settings: SearchSettings,
        checkpoint_dir: Path,
        seed: int,
        flops_weight: float,
    ) -> None:
        if settings.latency_bound_ms is not None:
            raise ValueError("FlopsSearch has no latency bound: its loss is L_a + w * F / F_ref")
        if flops_weight < 0:
            raise ValueError(f"flops_weight={flops_weight} must be >= 0")
        super().__init__(supernet, flops, train, val, settings, checkpoint_dir, seed)
        self.path = Path(checkpoint_dir) / CHECKPOINT
        self.flops_weight = flops_weight
        if flops_weight > 0:
            self.a_opt.register_step_pre_hook(self._add_flops_gradient)

    def _add_flops_gradient(self, optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        """Step pre-hook of the architecture optimiser: accumulate ``d(w * F / F_ref)/d alpha`` into the gradients."""
        (self.flops_weight * self.l_t()).backward()

    def relabel(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """An epoch's metrics under this search's names: ``flops_ratio`` for the loop's ``L_t_ms``, ``loss`` the objective."""
        out = dict(metrics)
        if "L_t_ms" in out:
            out["flops_ratio"] = out.pop("L_t_ms")
            out["loss"] = out["L_a"] + self.flops_weight * out["flops_ratio"]
        return out

    def run(self, report: Report) -> list[dict[str, float]]:
        """Resume from the checkpoint if there is one and run the remaining epochs; the per-epoch history.

        ``report(epoch=, epochs=, loss=, L_a=, flops_ratio=, val_L_a=, seconds=)`` after every epoch:
        ``flops_ratio`` is ``F / F_ref`` after the epoch, ``loss`` the objective of the epoch's mean
        training ``L_a`` and that ratio.
        """
        history = super().run(lambda **m: report(**self.relabel(m)))
        return [self.relabel(h) for h in history]
