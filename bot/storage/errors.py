"""What storage raises on purpose, so services can turn each case into a clear answer."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error this package raises deliberately."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer bot; using it could corrupt it, so it is refused."""

    def __init__(self, database: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"The database {database} has schema version {found}, but this version of the bot "
            f"only knows schema versions up to {supported}. It was written by a newer version "
            "of the bot: upgrade the bot to use it. The database has not been changed."
        )


class MigrationError(StorageError):
    """A migration is malformed or failed; the database was left exactly as it was."""


class NotFoundError(StorageError):
    """A row a write depends on does not exist in this guild."""


class DuplicateNameError(StorageError):
    """Another avatar of the guild already has this name once normalised."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"An avatar named {name!r} already exists in this server.")


class TokenBudgetExceededError(StorageError):
    """Attaching the document would take the avatar over its knowledge budget."""

    def __init__(self, used: int, requested: int, budget: int) -> None:
        self.used = used
        self.requested = requested
        self.budget = budget
        super().__init__(
            f"The document has {requested} tokens but only {max(budget - used, 0)} "
            f"of the avatar's {budget} remain."
        )


class LimitReached(StorageError):
    """A reservation was refused because a limit would be exceeded.

    `limit` names the limit (e.g. "member_live", "guild_live", "guild_avatars"); `frees_at`
    is when it frees up, when the policy can tell.
    """

    def __init__(self, limit: str, allowed: int, current: int, frees_at: int | None = None) -> None:
        self.limit = limit
        self.allowed = allowed
        self.current = current
        self.frees_at = frees_at
        super().__init__(f"limit {limit} reached: {current} of {allowed} in use")


class InUseError(StorageError):
    """A record cannot be erased yet: it is still in use (e.g. a live call)."""

    def __init__(self, what: str, *, until: str) -> None:
        self.what = what
        self.until = until  # what ends the use, e.g. "End it with `/session end`"
        super().__init__(f"{what} is still in use")


class ConstraintError(StorageError):
    """A statement broke a constraint or a rule of the schema (a unique key, a CHECK, a
    trigger that refuses the change); the same on both engines."""


class DatabaseUnavailableError(StorageError):
    """The database server could not be reached or refused the bot's connection."""
