"""The one exception type a user mistake raises: the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """A mistake in the user's input (a suite, a card, a flag, a missing file).

    ``where`` is ``file:line`` when known; ``field`` the dotted path of the offending key.
    """

    def __init__(self, message: str, where: str | None = None, field: str | None = None):
        self.message = message
        self.where = where
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.where, self.field) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message
