"""Hardware profiles, the latency/throughput measurement protocol, latency tables and estimators."""

from rtbench.hardware.profile import HardwareProfile, load_profile, profile_names

__all__ = ["HardwareProfile", "load_profile", "profile_names"]
