"""Where seqguard's own SQL is: the `sql` package's data, found through
importlib.resources, so an installed seqguard (a wheel, not a source checkout) has its
schema, model, decisions and built-in rules. The user's project folder is elsewhere
(`--project`); nothing here is theirs."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _on_disk() -> Path:
    root = files("sql")
    if not isinstance(root, Path):  # a zipped install: DuckDB and the file checks need paths
        raise RuntimeError(f"seqguard's SQL is not on disk ({root}); install seqguard as "
                           "a regular (unzipped) package")
    return root


OWN_SQL = _on_disk()
BUILTIN_RULES_DIR = OWN_SQL / "exclusions" / "builtin"
