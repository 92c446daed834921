"""One exception type for every user-facing mistake (bad key, bad value, bad data file).

The CLI prints ``str(err)`` as a single line and exits with status 2, before any work starts.
"""


class RTBenchError(Exception):
    """A user-facing error; the message names the key, value or file and what was expected."""


class ConfigError(RTBenchError):
    """A bad ``key=value`` override, or an unknown method, dataset, hardware profile or budget."""


class DataError(RTBenchError):
    """A dataset file or folder that cannot be used; the message names the file."""
