"""One exception type for bad input, so the CLI can print one line and exit 2."""


class LabelspaceError(ValueError):
    """Bad input from the user: the message names the bad value and what would be accepted."""
