"""Reading the files the data team commits (rules, lists, rulesets, plays, seqguard.yml)
as hostile input.

Every such file is read through here, so the checks hold for all of them:
- it is a regular file inside the project (a symlink may point elsewhere inside it, never
  out of it, so `/proc/self/environ` or `~/.aws/credentials` is never read); it is opened
  without blocking, so a FIFO or a device cannot stall the loader;
- it is UTF-8 text (a leading byte-order mark is dropped) without NUL bytes;
- YAML is plain data: no anchors or aliases (a few hundred bytes cannot expand into a
  document that takes minutes to walk), no tags, and only a few levels of nesting.

An error names the file, the line and the fix, never the file's content.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tasks.core.errors import RuleFileError
from tasks.core.resources import OWN_SQL

MAX_TEXT_BYTES = 1 << 20  # a rule, play or settings file is a short text file
MAX_YAML_DEPTH = 20
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
FILE_KINDS = (
    (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
)
UNPRINTABLE = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UserFileError(RuleFileError):
    """A user file that cannot be read as what it should be: `file:line: what; fix`."""

    def __init__(self, display: str, line: int, message: str) -> None:
        super().__init__(f"{display}:{line}: {message}")
        self.display = display
        self.line = line
        self.message = message


def printable(text: str) -> str:
    """A name for a one-line message: control characters, tabs and line breaks escaped."""
    return UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def shown(value: Any, limit: int = 60) -> str:
    """A value from a user file, for a message: one line and short (never a whole file)."""
    text = printable(str(value))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def display_path(path: Path, root: Path) -> str:
    """The path as the user knows it, relative to the project (or, for the built-in
    rules, to where seqguard's own `sql/` is installed): the link's own name, never where
    a symlink points."""
    absolute = os.path.abspath(path)
    for base in (root, OWN_SQL.parent):
        relative = os.path.relpath(absolute, os.path.abspath(base))
        if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
            return printable(relative)
    return printable(absolute)


def within(path: str, roots: Iterable[Path]) -> bool:
    """Whether a resolved path lies inside one of the (resolved) roots."""
    return any(os.path.commonpath([path, os.path.realpath(r)]) == os.path.realpath(r)
               for r in roots)


def read_bytes(path: Path, display: str, roots: Iterable[Path],
               max_bytes: int | None = MAX_TEXT_BYTES) -> bytes:
    """The file's bytes, if it is a regular file inside one of `roots` (symlinks resolved)."""
    real = os.path.realpath(path)
    if not within(real, roots):
        raise UserFileError(display, 1, "is a link to a file outside the project; seqguard "
                                        "does not follow it: copy the file into the project")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UserFileError(display, 1, "is a link to nothing (or was removed while reading); "
                                        "delete the link or restore its file") from None
    except OSError as exc:
        raise UserFileError(display, 1, f"cannot be read ({exc.strerror}); check the file's "
                                        "permissions") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in FILE_KINDS if test(mode)), "a special file")
            raise UserFileError(display, 1, f"is {kind}, not a regular file; replace it with "
                                            "the file itself")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if max_bytes is not None and len(data) > max_bytes:
        raise UserFileError(display, 1, f"is larger than {max_bytes >> 20} MiB; a rule, play or "
                                        "settings file is a short text file: check it is the "
                                        "right file")
    return data


def decode(data: bytes, display: str) -> str:
    """UTF-8 text without a leading byte-order mark; else an error naming the byte offset."""
    if data.startswith(UTF16_BOMS):
        raise UserFileError(display, 1, "is UTF-16 text; save it as UTF-8")
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
        offset = len(UTF8_BOM)
    else:
        offset = 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = offset + exc.start
        raise UserFileError(display, data.count(b"\n", 0, exc.start) + 1,
                            f"is not UTF-8 text (byte offset {at}); save it as UTF-8 (a "
                            "spreadsheet's 'CSV UTF-8' export)") from None
    nul = text.find("\0")
    if nul >= 0:
        at = offset + len(text[:nul].encode())
        raise UserFileError(display, text.count("\n", 0, nul) + 1,
                            f"has a NUL byte (byte offset {at}), so it is not a text file; "
                            "save it as plain UTF-8 text")
    return text


def read_text(path: Path, display: str, roots: Iterable[Path],
              max_bytes: int | None = MAX_TEXT_BYTES) -> str:
    """A user file's text, checked as the module doc says."""
    return decode(read_bytes(path, display, roots, max_bytes), display)


class RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that seqguard does not read (anchors, deep nesting, unreadable values)."""


class PlainLoader(yaml.SafeLoader):
    """PyYAML's safe loader for plain data: no anchors, aliases or tags, a nesting limit,
    and a value it cannot convert (a date like 2026-13-01) reported at its line."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise RefusedYAML(
                problem="anchors and aliases (&name, *name) are not allowed; write the "
                        "values out", problem_mark=event.start_mark)
        if getattr(event, "tag", None) is not None:
            raise RefusedYAML(problem="tags (!!name) are not allowed; write the value plainly",
                              problem_mark=event.start_mark)
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise RefusedYAML(
                    problem=f"nested more than {MAX_YAML_DEPTH} levels deep; flatten it",
                    problem_mark=event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except ValueError:
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise RefusedYAML(
                problem=f"a value that cannot be read as {kind}; quote it to keep it as text",
                problem_mark=node.start_mark) from None


def load_yaml(text: str, display: str) -> tuple[Any, dict[tuple, int]]:
    """The YAML document and the line of every key and list item (for file:line messages)."""
    try:
        node, data = _parse(text)
    except yaml.reader.ReaderError as exc:
        raise UserFileError(display, text.count("\n", 0, exc.position) + 1,
                            "has a control character YAML does not allow; remove it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        what = printable(str(getattr(exc, "problem", None) or "cannot be read"))[:120]
        if not isinstance(exc, RefusedYAML):
            what = f"not valid YAML ({what}); fix the syntax (indentation, quotes, colons)"
        raise UserFileError(display, mark.line + 1 if mark else 1, what) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    loader = PlainLoader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _collect_lines(node: yaml.Node, where: tuple, lines: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[(*where, key)] = key_node.start_mark.line + 1
            _collect_lines(value_node, (*where, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*where, i)] = item.start_mark.line + 1
            _collect_lines(item, (*where, i), lines)
