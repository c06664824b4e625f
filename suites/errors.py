"""Errors the neutral packages raise for bad user input; the CLI prints them as one line."""


class SpecError(ValueError):
    """A spec, suite or workload field holds a value that is not allowed."""


class UsageError(ValueError):
    """The user asked for something that does not exist (suite, workload, backend, mode...)."""
