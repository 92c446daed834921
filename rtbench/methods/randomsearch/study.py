"""The random search's Optuna study, journaled in the run's checkpoint folder so that it resumes.

Storage: ``optuna.storages.JournalStorage`` over a ``JournalFileBackend`` at
``<checkpoint_dir>/random_study.journal`` (an append-only log of every ask, suggestion and tell).
Reopened after an interruption, the study holds every finished sample, which is never redrawn.

Seeding. Sample k (0-based) is drawn by an Optuna ``RandomSampler`` seeded with
``SeedSequence([seed, k, attempt])``, set on the study just before that sample's ``ask``. One
``RandomSampler(seed=seed)`` for the whole search would not resume: its generator state is not in
the storage, so a reopened study would restart the stream and redraw the first samples. Seeded per
sample, sample k is the same genotype whether the search ran straight through or was interrupted
any number of times (tested: K = 3 then K = 5 in the same folder equals K = 5 at once).

Trials. Each sample is one trial: user attributes ``sample`` (k) and ``attempt``; on completion
its ``genotype`` and, as the trial's value, its FLOPs (a random sampler ignores values; the value
only makes the study a valid one-objective study). A trial left RUNNING by an interruption is
marked FAIL on reopening and its sample drawn again with the same seed (the same genotype).

Duplicates. A draw equal to an earlier sample's genotype is told PRUNED (``duplicate_of`` names
the sample it repeats) and redrawn with the next ``attempt``, so the K candidates are K distinct
networks (the harness would otherwise train a repeated genotype once and drop the copy, leaving
fewer than K points). On the default grid a repeat is vanishingly rare (2135 legal paths, 3072
cells); on a tiny grid it happens. After ``MAX_ATTEMPTS`` draws of one sample all repeating, the
search stops with an error naming the options: the space is too small for K distinct samples.

Settings. The study stores the search's fingerprint (grid, N_l range, seed) and refuses to reopen
under other settings; the number of samples K is not part of it (asking for more continues).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.samplers import RandomSampler
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import BaseTrial, TrialState

from rtbench.errors import RTBenchError

STUDY_FILE = "random_study.journal"
STUDY_NAME = "random"
MAX_ATTEMPTS = 100
"""Draws of one sample that may all repeat earlier samples before the search gives up."""


@dataclass(frozen=True)
class Sample:
    """A finished sample: its index k (0-based), genotype, FLOPs and Optuna trial number."""

    index: int
    genotype: dict[str, Any]
    flops: float
    trial: int


def sample_seed(seed: int, k: int, attempt: int) -> int:
    """The ``RandomSampler`` seed of attempt ``attempt`` of sample ``k`` under the search seed ``seed``."""
    return int(np.random.SeedSequence([seed % 2**32, k, attempt]).generate_state(1)[0])


def genotype_key(genotype: dict[str, Any]) -> str:
    """A genotype's identity (its canonical JSON)."""
    return json.dumps(genotype, sort_keys=True)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's INFO lines (e.g. "A new study created") off while the study opens, the previous verbosity restored."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class SampleStudy:
    """The journaled study of one random search (module docstring).

    Args:
        folder: the checkpoint folder (``ctx.checkpoint_dir``).
        seed: the search seed (``ctx.seed``).
        fingerprint: JSON-able settings the study must have been created with (grid, N_l range, seed).
    """

    def __init__(self, folder: Path, seed: int, fingerprint: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / STUDY_FILE
        self.seed = seed
        storage = JournalStorage(JournalFileBackend(str(self.path)))
        with quiet_optuna():
            self.study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction="minimize", load_if_exists=True)
        wanted = json.loads(json.dumps(fingerprint))
        stored = self.study.user_attrs.get("fingerprint")
        if stored is None:
            self.study.set_user_attr("fingerprint", wanted)
        elif stored != wanted:
            raise RTBenchError(
                f"{self.path} holds a random search with other settings ({stored}); this one has {wanted}; delete it to start over"
            )
        for stale in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(stale.number, state=TrialState.FAIL)

    def samples(self) -> list[Sample]:
        """The finished samples, by index."""
        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        out = [Sample(int(t.user_attrs["sample"]), t.user_attrs["genotype"], float(t.value), t.number) for t in done]
        return sorted(out, key=lambda s: s.index)

    def draw(
        self,
        k: int,
        suggest: Callable[[BaseTrial], dict[str, Any]],
        flops: Callable[[dict[str, Any]], float],
        taken: dict[str, int],
        what: str,
    ) -> Sample:
        """Draw sample ``k`` with ``suggest`` (every gene a ``trial.suggest_*``), redrawing repeats of ``taken``
        (genotype key -> sample index); ``flops`` prices the genotype; ``what`` names the options in the error."""
        start = sum(1 for t in self.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)) if t.user_attrs.get("sample") == k)
        for attempt in range(start, MAX_ATTEMPTS):
            self.study.sampler = RandomSampler(seed=sample_seed(self.seed, k, attempt))
            trial = self.study.ask()
            trial.set_user_attr("sample", k)
            trial.set_user_attr("attempt", attempt)
            genotype = suggest(trial)
            key = genotype_key(genotype)
            if key in taken:
                trial.set_user_attr("duplicate_of", taken[key])
                self.study.tell(trial, state=TrialState.PRUNED)
                continue
            cost = float(flops(genotype))
            trial.set_user_attr("genotype", genotype)
            self.study.tell(trial, cost)
            return Sample(k, genotype, cost, trial.number)
        raise RTBenchError(
            f"random: {MAX_ATTEMPTS} draws of sample #{k + 1} all repeated earlier samples; {what} has too few distinct "
            "genotypes for this many samples (widen the grid or the N_l range, or ask for fewer method.samples)"
        )
