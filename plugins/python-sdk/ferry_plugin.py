"""Write ferry plugins in a few lines of Python.

A plugin is a module (``app.py``) with a class ``WitWorld`` that has the
method of its role, built into a WebAssembly component by
``ferry plugin build`` (componentize-py against ``wit/ferry-plugin.wit``)::

    import wit_world
    from ferry_plugin import FileInfo, Verdict, accept, reject

    class WitWorld(wit_world.WitWorld):
        def validate(self, file: FileInfo) -> Verdict:
            if file.name.endswith(".csv"):
                return accept()
            return reject(f"{file.name} is not a .csv file")

A router defines ``route(self, file) -> Routing``, an acknowledger
``acknowledge(self, file, event) -> list[AckAction]``.

This module is the same for the three roles: it uses only the shared
``types`` and the ``host`` interface, which every role's bindings have.
Everything a plugin can reach goes through ``host``, scoped by ferry to
the tenant and partner it serves: the file under decision, the partner's
history and parameters, its key-value store, the log. There is no file
system, network or environment.
"""

from typing import Iterator, List, Optional, Union

from wit_world.imports import host as _host
from wit_world.imports import types
from wit_world.imports.types import (  # noqa: F401  (re-exported for plugins)
    AckAction,
    AckAction_RenameFile,
    AckAction_WriteFile,
    AckEvent,
    AckEvent_Delivered,
    AckEvent_Downloaded,
    AckEvent_Failed,
    AckEvent_Rejected,
    AckFile,
    Delivery,
    Direction,
    FileInfo,
    Folder,
    HistoryEntry,
    HistoryQuery,
    Level,
    RenameFile,
    Routing,
    Routing_Deliver,
    Routing_Hold,
    Verdict,
    Verdict_Accept,
    Verdict_Quarantine,
    Verdict_Reject,
)

#: The largest read the host answers in one call.
MAX_READ = 1 << 20

# Decisions ------------------------------------------------------------------


def accept() -> Verdict:
    """The file is good: route it."""
    return Verdict_Accept()


def reject(*reasons: str) -> Verdict:
    """The file is wrong: not delivered, and the sender is told each reason."""
    return Verdict_Reject([str(r) for r in reasons] or ["rejected"])


def quarantine(reason: str) -> Verdict:
    """The file cannot be judged now: kept aside for a person."""
    return Verdict_Quarantine(str(reason))


def deliver(*copies: Union[str, tuple, Delivery], name: Optional[str] = None) -> Routing:
    """Copies of the file into partners' outboxes.

    Each copy is a ``(partner, name)`` pair, a ``Delivery``, or a partner's
    name alone, which takes ``name`` (pass ``name=file.name`` to keep the
    file's own). No copies at all holds the file.
    """
    out = []
    for copy in copies:
        if isinstance(copy, Delivery):
            out.append(copy)
        elif isinstance(copy, tuple):
            out.append(Delivery(to=copy[0], name=copy[1]))
        elif name:
            out.append(Delivery(to=copy, name=name))
        else:
            raise ValueError(
                f"deliver({copy!r}): which name in its outbox? pass name=file.name, or ({copy!r}, NAME)"
            )
    return Routing_Deliver(out)


def hold(reason: str) -> Routing:
    """Keep the file, undelivered, for this reason."""
    return Routing_Hold(str(reason))


def write_file(partner: str, name: str, content: Union[bytes, str]) -> AckAction:
    """An acknowledgement: a small file placed in a partner's outbox."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    return AckAction_WriteFile(AckFile(partner=partner, name=name, content=bytes(content)))


def rename_file(partner: str, folder: Folder, old_name: str, new_name: str) -> AckAction:
    """An acknowledgement: a file of a partner's mailbox renamed (content and history stay)."""
    return AckAction_RenameFile(
        RenameFile(partner=partner, folder=folder, old_name=old_name, new_name=new_name)
    )


# The file under decision -----------------------------------------------------


def read(offset: int, length: int) -> bytes:
    """Up to ``length`` bytes (at most 1 MiB) of the file from ``offset``."""
    return _host.read(offset, min(length, MAX_READ))


def chunks() -> Iterator[bytes]:
    """The file as consecutive pieces of at most 1 MiB: memory stays small
    whatever the file's size."""
    offset = 0
    while True:
        chunk = _host.read(offset, MAX_READ)
        if not chunk:
            return
        offset += len(chunk)
        yield chunk


def read_all() -> bytes:
    """The whole file. The host caps a plugin's memory: check ``file.size``
    first, and use ``chunks`` or ``lines`` for large files."""
    return b"".join(chunks())


def lines(encoding: Optional[str] = "utf-8") -> Iterator[Union[str, bytes]]:
    """The file's lines, without their ``\\n`` or ``\\r\\n``, read 1 MiB at a
    time. Decoded with ``encoding`` (``None`` gives bytes); a line that does
    not decode raises ``UnicodeDecodeError``."""
    rest = b""
    for chunk in chunks():
        rest += chunk
        *complete, rest = rest.split(b"\n")
        for line in complete:
            yield _line(line, encoding)
    if rest:
        yield _line(rest, encoding)


def _line(line: bytes, encoding: Optional[str]) -> Union[str, bytes]:
    if line.endswith(b"\r"):
        line = line[:-1]
    return line if encoding is None else line.decode(encoding)


# The partner -------------------------------------------------------------------


def transform_delivery(to: str, operation: str) -> None:
    """Asks that the copy for partner ``to`` be transformed on delivery:
    ``"zip"`` or ``"encrypt"`` (OpenPGP, to its key). A router's requests only."""
    _host.transform_delivery(to, operation)


def param(name: str, default: Optional[str] = None) -> Optional[str]:
    """A parameter of this partner (``[tenants.T.partners.P.params]``)."""
    value = _host.param(name)
    return default if value is None else value


def history(
    direction: Optional[Direction] = None, since: Optional[int] = None, limit: int = 1000
) -> List[HistoryEntry]:
    """The partner's past messages, newest first (the file under decision
    included). ``since`` is in milliseconds since the Unix epoch; the host
    caps ``limit`` at 10,000."""
    return _host.history(HistoryQuery(direction=direction, since=since, limit=limit))


def kv_get(key: str) -> Optional[bytes]:
    """A value of the partner's key-value store (kept with the decision)."""
    return _host.kv_get(key)


def kv_set(key: str, value: Union[bytes, str]) -> None:
    """Sets a value; it reaches the store with the decision, in the same
    transaction, so a call that fails writes nothing."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    _host.kv_set(key, bytes(value))


def kv_delete(key: str) -> None:
    _host.kv_delete(key)


# The log ------------------------------------------------------------------------


def log(level: Level, message: str) -> None:
    """A line in ferry's log; at ``warn`` and ``error`` also in the journal."""
    _host.log(level, str(message))


def debug(message: str) -> None:
    _host.log(Level.DEBUG, str(message))


def info(message: str) -> None:
    _host.log(Level.INFO, str(message))


def warn(message: str) -> None:
    _host.log(Level.WARN, str(message))


def error(message: str) -> None:
    _host.log(Level.ERROR, str(message))
