"""The one exception type a user mistake raises: the CLI prints it as one line and exits 2."""

# Control characters and every character str.splitlines() breaks a line at, written as escapes: an error
# is one line, and shows what it names.
_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in [*map(chr, range(32)), *map(chr, range(127, 160)), "\u2028",
                                                     "\u2029"] if c != "\t"})
SHOWN = 60  # characters of a value an error line echoes (``shown``)
MAX_MESSAGE = 400  # characters of a message, whatever it echoes
MAX_PART = 300  # characters of the file:line and of the field


def shown(value, limit: int = SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters, for an error line."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    return text if len(text) <= limit else f"{text[:limit - 3]}...({len(text)} characters)"


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = text.translate(_BREAKS)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


class UserError(Exception):
    """A mistake in the user's input (a suite, a card, a flag, a missing file).

    ``where`` is ``file:line`` when known; ``field`` the dotted path of the offending key. Printed, it is one
    line: line breaks inside are escaped and an overlong message is cut.
    """

    def __init__(self, message: str, where: str | None = None, field: str | None = None):
        self.message = message
        self.where = where
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [one_line(p, MAX_PART) for p in (self.where, self.field) if p]
        prefix = ": ".join(parts)
        message = one_line(self.message, MAX_MESSAGE)
        return f"{prefix}: {message}" if prefix else message
