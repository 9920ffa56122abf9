"""One registry mechanism for everything chosen by name.

Models, data sets, VAE posteriors, GMMVI's design choices (and, through the
estimator-id grammar, estimators) are each a :class:`Registry`. An entry is a
class or a function registered under a name with a decorator; its keyword
arguments are its typed configuration, so :meth:`Registry.build` rejects an
unknown or misspelt option with a message that lists the valid ones.

This module imports nothing of ``ovis`` and no third-party package, so any part
of the package may use it.

Example:
    >>> from ovis.registry import Registry
    >>> SHAPES = Registry("shape")
    >>> @SHAPES.register("square")
    ... class Square:
    ...     '''A square of side ``side``.'''
    ...     def __init__(self, side: float = 1.0):
    ...         self.area = side ** 2
    >>> SHAPES.build("square", side=3.0).area
    9.0
    >>> SHAPES.names()
    ['square']
    >>> SHAPES.build("square", sid=3.0)
    Traceback (most recent call last):
        ...
    ovis.registry.RegistryError: unknown option(s) ['sid'] for shape 'square' ('sid': did you mean 'side'?); valid options are ['side']
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
from typing import Any, Callable, Dict, Generic, Iterator, List, Optional, Sequence, Tuple, TypeVar

__all__ = ["Registry", "Entry", "RegistryError"]

T = TypeVar("T")


class RegistryError(ValueError):
    """An unknown name or option; the message lists the valid choices."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered builder.

    Arguments:
        name: the name it is chosen by.
        builder: the class or function called by :meth:`Registry.build`.
        help: one line for listings (default: the first line of the builder's docstring).
        reserved: keyword arguments the caller supplies itself (e.g. ``input_shape``);
            they are not user options and are not listed.
        aliases: other names that choose this entry.
    """

    name: str
    builder: Callable[..., Any]
    help: str = ""
    reserved: Tuple[str, ...] = ()
    aliases: Tuple[str, ...] = ()

    def options(self) -> Dict[str, inspect.Parameter]:
        """The user options (keyword parameters) of the builder, in signature order.

        A builder that takes ``**kwargs`` accepts any option; its named parameters are listed.
        """
        target = self.builder.__init__ if inspect.isclass(self.builder) else self.builder
        params = inspect.signature(target).parameters
        skip = {"self", "cls", *self.reserved}
        return {name: p for name, p in params.items()
                if name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def accepts_any(self) -> bool:
        target = self.builder.__init__ if inspect.isclass(self.builder) else self.builder
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())

    def defaults(self) -> Dict[str, Any]:
        """Options with a default value, ``{name: default}``."""
        return {n: p.default for n, p in self.options().items() if p.default is not p.empty}


class Registry(Generic[T]):
    """Named builders of one kind (``"model"``, ``"data set"``, ``"posterior"``, ...).

    Arguments:
        kind: what the entries are, used in error messages (``unknown model 'vea'``).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Entry] = {}
        self._aliases: Dict[str, str] = {}

    # ------------------------------------------------------------------ registration
    def register(self, name: str, *, help: Optional[str] = None, reserved: Sequence[str] = (),
                 aliases: Sequence[str] = ()) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register a class or function under ``name`` (returned unchanged).

        Raises:
            RegistryError: ``name`` or an alias is already taken.
        """
        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            self.add(name, builder, help=help, reserved=reserved, aliases=aliases)
            return builder
        return decorator

    def add(self, name: str, builder: Callable[..., T], *, help: Optional[str] = None,
            reserved: Sequence[str] = (), aliases: Sequence[str] = ()) -> Entry:
        """Register ``builder`` under ``name`` (the non-decorator form of :meth:`register`)."""
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise RegistryError(f"{self.kind} {key!r} is already registered")
        if help is None:
            doc = inspect.getdoc(builder) or ""
            help = doc.strip().splitlines()[0] if doc.strip() else ""
        entry = Entry(name, builder, help, tuple(reserved), tuple(aliases))
        self._entries[name] = entry
        for alias in aliases:
            self._aliases[alias] = name
        return entry

    # ------------------------------------------------------------------ look-up
    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> List[str]:
        """The registered names (not the aliases), sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> Entry:
        """The entry of ``name`` (or of an alias).

        Raises:
            RegistryError: unknown name; the message lists the valid names and close matches.
        """
        if not isinstance(name, str):
            raise RegistryError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = self._aliases.get(name, name)
        if key not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries) + list(self._aliases), n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise RegistryError(f"unknown {self.kind} {name!r}{hint}; valid {self.kind}s are {self.names()}")
        return self._entries[key]

    def check_options(self, name: str, options: Dict[str, Any]) -> Entry:
        """Validate ``options`` against the entry's keyword arguments; return the entry.

        Raises:
            RegistryError: unknown name, or an option the entry does not take.
        """
        entry = self.get(name)
        if entry.accepts_any():
            return entry
        valid = list(entry.options())
        unknown = sorted(set(options) - set(valid) - set(entry.reserved))
        if unknown:
            hints = {u: difflib.get_close_matches(u, valid, n=1) for u in unknown}
            hint = "".join(f" ({u!r}: did you mean {h[0]!r}?)" for u, h in hints.items() if h)
            raise RegistryError(f"unknown option(s) {unknown} for {self.kind} {entry.name!r}{hint}; "
                                f"valid options are {valid}")
        return entry

    def build(self, name: str, *args: Any, **options: Any) -> T:
        """Call the builder of ``name`` with ``args`` (reserved, positional) and ``options``.

        Raises:
            RegistryError: unknown name or option (before anything is built).
        """
        entry = self.check_options(name, options)
        return entry.builder(*args, **options)

    # ------------------------------------------------------------------ listings
    def describe(self) -> str:
        """One line per entry, ``name  help  [options]``, for ``--help`` and error messages."""
        if not self._entries:
            return f"(no {self.kind}s registered)"
        width = max(map(len, self._entries))
        lines = []
        for name in self.names():
            entry = self._entries[name]
            opts = ", ".join(entry.options())
            line = f"{name:<{width}}  {entry.help}"
            if opts:
                line += f"  [{opts}]"
            lines.append(line.rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
