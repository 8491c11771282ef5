"""Creating, activating and rolling back rule versions; each is validated and tested before it can be active."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guard.core.errors import Conflict, NotFound, RuleTestsFailed, ValidationFailed
from guard.core.timeutil import iso, utcnow
from guard.ledger.chain import Entry, append
from guard.ledger.digests import files_digest, values_digest
from guard.policy.ast import RuleSource
from guard.policy.evaluate import Evaluator
from guard.policy.parser import read_directory, version_of
from guard.policy.ruleset import build_evaluator
from guard.policy.testing import run_tests
from guard.storage.database import Database
from guard.storage.tables.lifecycle import RuleActivation, RuleVersion

MAX_MESSAGE = 2000


def version_digest(version: RuleVersion, legacy: bool = False) -> str:
    """What the audit chain records of a stored version: with every file's full text by its SHA-256
    (`legacy`: the form chained before keying, which named the files by the short content hash only)."""
    values = [version.number, version.content_hash, version.author, version.message, version.created_at,
              version.parent]
    return values_digest(values if legacy else [*values, files_digest(version.files)])


def activation_digest(row: RuleActivation) -> str:
    """What the audit chain records of an activation or rollback."""
    return values_digest([row.id, row.version, row.previous, row.kind, row.actor, row.message, row.activated_at])


def sources_of(version: RuleVersion) -> list[RuleSource]:
    """The rule files of a stored version."""
    return [RuleSource(f["name"], f["text"]) for f in version.files]


def checked_evaluator(sources: list[RuleSource], version: int | str | None = None) -> tuple[Evaluator, dict[str, Any]]:
    """Compile and run the files' own tests; RulesInvalid or RuleTestsFailed when they cannot be active."""
    evaluator = build_evaluator(sources)
    if version is not None:
        evaluator.version = version
    results = run_tests(evaluator)
    failed = [r.to_dict() for r in results if not r.passed]
    if failed:
        evaluator.close()
        raise RuleTestsFailed(f"{len(failed)} of {len(results)} rule test(s) failed.", {"failed": failed})
    return evaluator, {"tests": len(results), "passed": len(results)}


def create_version(db: Database, sources: list[RuleSource], author: str, message: str) -> dict[str, Any]:
    """Store a new immutable version after it passed validation and its tests."""
    _check_message(message)
    if not sources:
        raise ValidationFailed("A version needs at least one rule file.", {"files": ["At least one file."]})
    evaluator, summary = checked_evaluator(sources)
    evaluator.close()
    for attempt in range(5):
        try:
            with db.transaction() as session:
                number = (session.scalar(select(func.max(RuleVersion.number))) or 0) + 1
                active = active_activation(session)
                version = RuleVersion(
                    number=number, content_hash=version_of(sources), author=author, message=message,
                    created_at=utcnow(), parent=active.version if active else None,
                    files=[{"name": s.name, "text": s.text} for s in sources], test_summary=summary,
                )
                session.add(version)
                session.flush()
                append(session, [Entry("rule_version", str(number), version.created_at, version_digest(version))])
                return describe_version(version, active.version if active else None)
        except IntegrityError:
            # Another admin took this number at the same moment: take the next one.
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _check_message(message: str) -> None:
    if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
        raise ValidationFailed("Say why: a message of 1-2000 characters.", {"message": ["1-2000 characters."]})


def activate(db: Database, number: int, actor: str, message: str, kind: str = "activate") -> dict[str, Any]:
    """Make a stored version active for every process; it is re-checked first, so it never goes live broken."""
    _check_message(message)
    with db.sessions() as session:
        version = _version(session, number)
        sources = sources_of(version)
    evaluator, _ = checked_evaluator(sources)
    evaluator.close()
    with db.transaction() as session:
        current = active_activation(session)
        row = RuleActivation(version=number, previous=current.version if current else None, kind=kind,
                             actor=actor, message=message, activated_at=utcnow())
        session.add(row)
        session.flush()
        append(session, [Entry("activation", str(row.id), row.activated_at, activation_digest(row))])
        return describe_activation(row)


def rollback(db: Database, actor: str, message: str, to: int | None = None) -> dict[str, Any]:
    """Activate the version that was active before the current one (or `to`)."""
    with db.sessions() as session:
        current = active_activation(session)
        target = to if to is not None else (current.previous if current else None)
    if target is None:
        raise Conflict("There is no earlier version to roll back to.")
    return activate(db, target, actor, message, kind="rollback")


def active_activation(session: Session) -> RuleActivation | None:
    """The newest activation row: it names the active version."""
    return session.scalars(select(RuleActivation).order_by(RuleActivation.id.desc()).limit(1)).first()


# Version numbers are 32-bit integer keys: a larger number names no version (and must not reach the driver,
# which refuses to bind it).
MAX_VERSION = 2**31 - 1


def _version(session: Session, number: int) -> RuleVersion:
    version = session.get(RuleVersion, number) if 0 < number <= MAX_VERSION else None
    if version is None:
        raise NotFound(f"No rules version {number}.", {"version": number})
    return version


def get_version(session: Session, number: int) -> RuleVersion:
    """A stored version, or NotFound."""
    return _version(session, number)


def describe_version(version: RuleVersion, active: int | None, with_files: bool = False) -> dict[str, Any]:
    """The public form of a version."""
    out: dict[str, Any] = {
        "number": version.number,
        "version": version.number,
        "content_hash": version.content_hash,
        "author": version.author,
        "message": version.message,
        "created_at": iso(version.created_at),
        "parent": version.parent,
        "active": version.number == active,
        "files": [f["name"] for f in version.files],
        "tests": version.test_summary,
    }
    if with_files:
        out["files"] = version.files
    return out


def describe_activation(row: RuleActivation) -> dict[str, Any]:
    """The public form of an activation or rollback."""
    return {
        "id": row.id,
        "version": row.version,
        "previous": row.previous,
        "kind": row.kind,
        "actor": row.actor,
        "message": row.message,
        "activated_at": iso(row.activated_at),
    }


def list_versions(session: Session) -> dict[str, Any]:
    """Every version, newest first, and the activation history with who, when and why."""
    active = active_activation(session)
    active_number = active.version if active else None
    versions = session.scalars(select(RuleVersion).order_by(RuleVersion.number.desc()))
    activations = session.scalars(select(RuleActivation).order_by(RuleActivation.id.desc()).limit(200))
    return {
        "active": active_number,
        "versions": [describe_version(v, active_number) for v in versions],
        "activations": [_with_diff(session, a) for a in activations],
    }


def _with_diff(session: Session, row: RuleActivation) -> dict[str, Any]:
    out = describe_activation(row)
    if row.previous is not None:
        out["diff"] = diff_versions(session, row.previous, row.version)["diff"]
    return out


def diff_versions(session: Session, old: int, new: int) -> dict[str, Any]:
    """A unified diff of every file between two versions."""
    before = {f["name"]: f["text"] for f in _version(session, old).files}
    after = {f["name"]: f["text"] for f in _version(session, new).files}
    chunks = []
    for name in sorted(before.keys() | after.keys()):
        lines = difflib.unified_diff(
            before.get(name, "").splitlines(keepends=True), after.get(name, "").splitlines(keepends=True),
            fromfile=f"v{old}/{name}" if name in before else "/dev/null",
            tofile=f"v{new}/{name}" if name in after else "/dev/null",
        )
        chunks.append("".join(lines))
    text = "".join(chunks)
    return {"from": old, "to": new, "changed": bool(text), "diff": text}


def seed_from_directory(db: Database, path: Path, actor: str = "guard serve") -> int:
    """Activate the rule files of a directory unless their exact content is already a stored version."""
    sources = read_directory(path)
    digest = version_of(sources)
    with db.sessions() as session:
        known = session.scalars(select(RuleVersion.number).where(RuleVersion.content_hash == digest)).first()
        active = active_activation(session)
    if known is not None:
        if active is None:
            activate(db, known, actor, f"activated from {path} at start")
            return known
        return active.version
    created = create_version(db, sources, actor, f"loaded from {path}")
    activate(db, created["number"], actor, f"loaded from {path} at start", kind="seed")
    return int(created["number"])


def pull_version(session: Session, number: int, directory: Path) -> list[Path]:
    """Write a stored version's files into a directory (the git-friendly form)."""
    version = _version(session, number)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for f in version.files:
        target = directory / Path(f["name"]).name
        target.write_text(f["text"], encoding="utf-8")
        written.append(target)
    return written
