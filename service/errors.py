"""Errors the user can fix: the CLI prints them in one line and exits 2."""


class UsageError(Exception):
    """Bad input from the user (a file, an id, an argument), with a message that says why."""
