"""The one error type that reaches users as a single line (see deeptrash.cli)."""


class UserError(Exception):
    """A problem the user can fix: bad params, missing inputs, no usable data.

    Stages print it as one line (`error: ...`) and exit with status 2.
    """
