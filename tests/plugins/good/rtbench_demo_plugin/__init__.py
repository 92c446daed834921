"""A third-party rtbench plug-in (tests only): the ``demo-stack`` space and the ``demo-random`` method.

Installed for the tests by putting ``tests/plugins/good`` on ``sys.path`` / ``PYTHONPATH``: its
``.dist-info`` folder declares both entry points, exactly as ``pip install`` of a package whose
``pyproject.toml`` has ``[project.entry-points."rtbench.methods"]`` and ``"rtbench.spaces"`` would.
"""
