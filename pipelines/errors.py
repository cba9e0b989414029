"""Expected failures: bad input, missing files, unsupported data. The command line prints these as
one line (``gadgetron-inr: error: ...``) and exits non-zero, without a traceback."""


class UserError(Exception):
    """An error the user can fix; its message names the problem and the item."""
