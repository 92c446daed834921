"""Differentiable estimators of latency and FLOPs over architecture parameters."""
