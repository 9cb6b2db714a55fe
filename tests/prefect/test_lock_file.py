"""requirements.lock and pyproject.toml agree: a fresh `make install` installs what the
tests ran with (SQLAlchemy 2.1 floating in once left the */15 schedule never firing)."""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from packaging.requirements import Requirement

from bench.prefect_server import ROOT


def lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock", ROOT / ".ci" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = lock_module()


def test_every_declared_requirement_is_pinned_at_a_version_it_accepts() -> None:
    pins = lock.pins()
    wrong = []
    for where, requirements in lock.declared().items():
        for text in requirements:
            requirement = Requirement(text)
            pinned = pins.get(lock.normalize(requirement.name))
            if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
                wrong.append(f"{where}: {text} (locked: {pinned or 'missing'})")
    assert not wrong, ("requirements.lock disagrees with pyproject.toml; run `make lock`: "
                       + "; ".join(wrong))


def test_the_lock_was_made_from_pyprojects_current_dependency_lists() -> None:
    assert lock.recorded_digest() == lock.digest(), (
        "pyproject.toml's dependencies changed since requirements.lock was made; run `make lock`")


def test_the_digest_follows_the_dependency_lists_not_the_comments(tmp_path) -> None:
    original = (ROOT / "pyproject.toml").read_text()
    commented = tmp_path / "commented.toml"
    commented.write_text(original.replace("dependencies = [", "dependencies = [  # why", 1))
    edited = tmp_path / "edited.toml"
    edited.write_text(original.replace('"pyyaml>=6"', '"pyyaml>=6.0.2"'))
    assert lock.digest(commented) == lock.digest()
    assert lock.digest(edited) != lock.digest()


def test_this_environment_has_the_locked_versions() -> None:
    # the venv `make test` runs in was installed with `-c requirements.lock`
    drifted = []
    for name, pinned in lock.pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # the bench extra, or a platform's conditional dependency
        if installed != pinned:
            drifted.append(f"{name} {installed} (locked {pinned})")
    assert not drifted, ("installed versions differ from requirements.lock; run .venv/bin/pip "
                         "install -c requirements.lock -e '.[dev]': " + ", ".join(drifted))
