"""NAS methods and baselines behind one interface (see ``base``)."""

from rtbench.methods.base import Candidate, Method, SearchContext, get_method_class, method_names, register

__all__ = ["Candidate", "Method", "SearchContext", "get_method_class", "method_names", "register"]
