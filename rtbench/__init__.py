"""rtbench: a benchmark and leaderboard for NAS under real-time constraints, for cardiac segmentation.

Methods search; the harness measures. See README.md and DESIGN notes for the flow of one submission.
"""

__version__ = "0.1.0"
