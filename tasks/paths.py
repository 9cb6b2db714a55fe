"""Where seqguard's own SQL lives (shipped with the code), as opposed to the project's."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
SCHEMA_DIR = SQL_DIR / "schema"
DECIDE_DIR = SQL_DIR / "decide"
BUILTIN_RULES_DIR = SQL_DIR / "exclusions" / "builtin"
