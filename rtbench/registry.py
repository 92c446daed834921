"""One registry mechanism for methods, search spaces and datasets (timm-style: the registry is the table of contents).

Each kind of plug-in has one :class:`Registry`: ``METHODS`` (``rtbench.methods``), ``SPACES``
(``rtbench.spaces``) and ``DATASETS`` (``rtbench.datasets``). They all work alike:

* ``@REGISTRY.register("name")`` on a class makes it available as ``name``; a second, different
  class under the same name is refused.
* ``REGISTRY.get(name)`` returns the *class*: a registered name, then a name of the registry's
  entry-point group (``[project.entry-points."rtbench.methods"] mynas = "mypkg.mod:MyNAS"``), then
  ``package.module:Class`` typed out. ``REGISTRY.create(name, *args)`` is ``get(name)(*args)``.
* ``REGISTRY.names()`` lists registered and entry-point names; ``REGISTRY.load_all()`` loads every
  one and returns the classes and, separately, the error of each entry point that fails to load,
  so one broken plug-in never hides the others.

Built-ins are imported explicitly by each package's ``__init__`` (``rtbench/methods/__init__.py``
imports every method module by name), so a missing built-in module fails loudly at import.

:func:`provenance` describes where a class's code comes from (module, distribution, version and a
hash of its source), which the run record keeps and the run id depends on (a method's and the
space it builds networks in).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions, version
from pathlib import Path
from typing import Any, Generic, TypeVar

from rtbench.errors import ConfigError

T = TypeVar("T", bound=type)


class PluginError(ConfigError):
    """A plug-in (entry point or ``package.module:Class``) that cannot be loaded; the message names it."""


@dataclass(frozen=True)
class LoadReport(Generic[T]):
    """What :meth:`Registry.load_all` found: every class that loads, and the error of each that does not."""

    classes: dict[str, T]
    errors: dict[str, str]


class Registry(Generic[T]):
    """Name -> class for one kind of plug-in (see the module docstring).

    Args:
        kind: what the classes are, for messages (``"method"``, ``"search space"``, ``"dataset"``).
        key: the command-line key that names one (``"method"``, ``"space"``, ``"dataset"``).
        group: the entry-point group third-party packages register in (``"rtbench.methods"``...).
        base: the class every registered class must derive from (checked for ``package.module:Class``
            and entry points); None for protocol-typed kinds such as datasets.
    """

    def __init__(self, kind: str, key: str, group: str, base: type | None = None) -> None:
        self.kind, self.key, self.group, self.base = kind, key, group, base
        self._classes: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: make the class available as ``<key>=<name>``; sets ``cls.name``."""

        def deco(cls: T) -> T:
            old = self._classes.get(name)
            if old is not None and _qualname(old) != _qualname(cls):
                raise PluginError(f"{self.kind} '{name}' is registered twice ({_qualname(old)} and {_qualname(cls)})")
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return deco

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Registered and entry-point names, sorted (an entry point is listed even before it is loaded)."""
        return sorted(set(self._classes) | set(self._entry_points()))

    def builtin_names(self) -> list[str]:
        """Names registered by rtbench's own modules."""
        return sorted(n for n, c in self._classes.items() if c.__module__.startswith("rtbench."))

    def get(self, name: str) -> T:
        """The class for ``name``: registered, then entry point, then ``package.module:Class``; ConfigError otherwise."""
        if name in self._classes:
            return self._classes[name]
        eps = self._entry_points()
        if name in eps:
            return self._load_entry_point(name, eps[name])
        if ":" in name:
            return self._load_dotted(name)
        raise ConfigError(f"unknown {self.kind} '{name}'; valid {self.key}s: {', '.join(self.names())} (or package.module:Class)")

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """``get(name)(*args, **kwargs)``: an instance of the named class."""
        return self.get(name)(*args, **kwargs)

    def load_all(self) -> LoadReport[T]:
        """Load every registered and entry-point class; a plug-in that fails is reported, not raised."""
        classes, errors = dict(self._classes), {}
        for name, ep in self._entry_points().items():
            if name in classes and _qualname(classes[name]) == ep.value.replace(":", "."):
                continue
            try:
                classes[name] = self._load_entry_point(name, ep)
            except PluginError as err:
                errors[name] = str(err)
            except Exception as err:  # any other failure of third-party code is reported by name too
                errors[name] = f"{type(err).__name__}: {err}"
        return LoadReport(dict(sorted(classes.items())), errors)

    def _load_entry_point(self, name: str, ep: Any) -> T:
        try:
            obj = ep.load()
        except Exception as err:
            raise PluginError(f"{self.kind} '{name}' (entry point '{ep.value}' in group {self.group}) cannot be imported: {err}") from err
        cls = self._check(obj, f"entry point '{name} = {ep.value}'")
        if name in self._classes and self._classes[name] is not cls:
            raise PluginError(f"{self.kind} '{name}' is registered twice ({_qualname(self._classes[name])} and entry point {ep.value})")
        cls.name = name  # type: ignore[attr-defined]
        self._classes[name] = cls
        return cls

    def _load_dotted(self, spec: str) -> T:
        mod_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as err:
            raise PluginError(
                f"{self.key}='{spec}': cannot import it ({err}); expected package.module:Class, with the package installed or on PYTHONPATH"
            ) from None
        cls = self._check(obj, f"{self.key}='{spec}'")
        if not getattr(cls, "name", ""):
            cls.name = spec  # type: ignore[attr-defined]
        return cls

    def _check(self, obj: Any, what: str) -> T:
        if not isinstance(obj, type) or (self.base is not None and not issubclass(obj, self.base)):
            expected = f"a subclass of {self.group}.{self.base.__name__}" if self.base else "a class"
            raise PluginError(f"{what} is not {expected}")
        return obj  # type: ignore[return-value]


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_SHARED_FOLDERS = tuple(Path(__file__).resolve().parent / d for d in ("methods", "spaces"))
"""rtbench's folders of single-file built-ins beside the family folders: a module here hashes alone."""


def source_files(cls: type) -> list[Path]:
    """The source files whose code defines ``cls``: its module's file and, when that module lives in a
    package folder of its own (a method family such as ``rtbench/methods/rtdnas/``, a space family
    such as ``rtbench/spaces/msnas/``, or a plug-in's package), every ``.py`` file beside it. A
    top-level module and a single-file built-in (``rtbench/methods/unet.py``,
    ``rtbench/spaces/unet.py``) hash alone."""
    module = sys.modules.get(cls.__module__)
    path = Path(inspect.getfile(module if module is not None else cls)).resolve()
    if "." not in cls.__module__ or path.parent in _SHARED_FOLDERS:
        return [path]
    return sorted(path.parent.glob("*.py"))


def provenance(cls: type) -> dict[str, str]:
    """Where ``cls``'s code comes from: module, distribution and version (``""`` when not installed),
    and ``source_sha256``, a hash over :func:`source_files` (names and contents)."""
    module = cls.__module__
    top = module.split(".")[0]
    dists = packages_distributions().get(top, [])
    dist = dists[0] if dists else ""
    try:
        ver = version(dist) if dist else ""
    except PackageNotFoundError:
        ver = ""
    h = hashlib.sha256()
    for p in source_files(cls):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return {"module": module, "class": cls.__qualname__, "package": dist, "version": ver, "source_sha256": h.hexdigest()}
