"""Rules: the active version and its history for every reader; editing, tests, backtests, activation and
rollback for admins, through the same lifecycle use cases as the API."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from guard.core.errors import GuardError, NotFound, RulesInvalid, RuleTestsFailed, ValidationFailed
from guard.lifecycle import drafts, usecases
from guard.lifecycle.jobs import get_job, latest_of_version
from guard.lifecycle.versions import active_activation, describe_version, diff_versions, get_version, list_versions
from guard.policy.ast import RuleError
from guard.policy.schemas import FILE_NAME_PATTERN
from guard.web.console.auth import admin_only, current_key
from guard.web.console.blueprint import bp
from guard.web.console.filters import utc_input
from guard.web.console.forms import ActivateForm, BacktestForm, EditForm, RollbackForm
from guard.web.console.listing import annotate, elsewhere
from guard.web.console.views.common import page
from guard.web.shared.context import current_guard


def _actor() -> str:
    return current_key().name


def _file_name(name: str) -> str:
    if not FILE_NAME_PATTERN.match(name):
        raise NotFound(f"{name!r} is not a rule file name: letters, digits, '.', '_' and '-', e.g. offers.yaml.")
    return name


@bp.get("/console/rules")
def rules() -> tuple[str, int]:
    """The active version, every stored version and the activation history with diffs."""
    with current_guard().db.sessions() as session:
        history = list_versions(session)
        _, files = drafts.active_files(session)
    active = next((v for v in history["versions"] if v["active"]), None)
    return page("rules.html", history=history, active=active, files=files, rollback_form=RollbackForm())


@bp.get("/console/rules/versions/<int:number>")
def version(number: int) -> tuple[str, int]:
    """One stored version: who made it and why, its files, and (for admins) activate or backtest it."""
    with current_guard().db.sessions() as session:
        active = active_activation(session)
        active_number = active.version if active else None
        found = describe_version(get_version(session, number), active_number, with_files=True)
        diff = diff_versions(session, active_number, number) if active_number not in (None, number) else None
    listings = [(f["name"], annotate(f["name"], f["text"], [])) for f in found["files"]]
    return page("version.html", version=found, listings=listings, activate_form=ActivateForm(),
                backtest_form=BacktestForm(), diff=diff, active_number=active_number,
                latest=latest_of_version(current_guard().db, number))


@bp.get("/console/rules/versions/<int:number>/files/<name>")
def rule_file(number: int, name: str) -> tuple[str, int]:
    """One file of a stored version, with line numbers."""
    with current_guard().db.sessions() as session:
        found = get_version(session, number)
        texts = {f["name"]: f["text"] for f in found.files}
    if name not in texts:
        raise NotFound(f"Version {number} has no file {name!r}.")
    return page("file.html", number=number, name=name, lines=annotate(name, texts[name], []))


@bp.get("/console/rules/new")
@admin_only
def new_file() -> Response:
    """Start a new rule file (it joins the active version's files when saved)."""
    name = request.args.get("name", "").strip()
    if name and not name.endswith((".yaml", ".yml")):
        name += ".yaml"
    return redirect(url_for("console.edit", name=_file_name(name or "new-rules.yaml")))


@bp.route("/console/rules/edit/<name>", methods=["GET", "POST"])
@admin_only
def edit(name: str) -> tuple[str, int] | Response:
    """Edit one file against the active version: validate, run the tests, backtest, save as a new version."""
    _file_name(name)
    form = EditForm()
    submitted = form.validate_on_submit()
    text = (form.text.data or "").replace("\r\n", "\n") if submitted else None
    with current_guard().db.sessions() as session:
        draft = drafts.draft(session, name, text)
    if not submitted:
        form.text.data = draft.text
        return _edit_page(form, draft)
    if form.save.data:
        return _save(form, draft)
    if form.backtest.data:
        return _backtest_draft(form, draft)
    if form.test.data:
        return _test(form, draft)
    return _edit_page(form, draft, problems=drafts.problems(draft), checked=True)


def _edit_page(form: EditForm, draft: drafts.Draft, status: int = 200,
               problems: list[RuleError] | None = None, **context: Any) -> tuple[str, int]:
    problems = problems or []
    errors = [p for p in problems if p.severity == "error"]
    return page("edit.html", 422 if errors and status == 200 else status, form=form, name=draft.name,
                active_number=draft.base, lines=annotate(draft.name, draft.text, problems),
                problems=problems, errors=errors, other_problems=elsewhere(draft.name, problems), **context)


def _test(form: EditForm, draft: drafts.Draft) -> tuple[str, int]:
    problems = drafts.problems(draft)
    if any(p.severity == "error" for p in problems):
        return _edit_page(form, draft, problems=problems, checked=True)
    try:
        results = drafts.test(draft)
    except RulesInvalid as exc:
        return _edit_page(form, draft, problems=drafts.located(exc.details), checked=True)
    failed = [r for r in results if not r.passed]
    return _edit_page(form, draft, 422 if failed else 200, problems=problems, tests=results,
                      failed=failed)


def _save(form: EditForm, draft: drafts.Draft) -> tuple[str, int] | Response:
    message = (form.message.data or "").strip()
    if not message:
        form.message.errors = ["Say why you change the rules: the message goes into the version history."]
        return _edit_page(form, draft, 422)
    try:
        created = usecases.new_version(current_guard().db, {"files": draft.files(), "message": message}, _actor())
    except RulesInvalid as exc:
        problems = drafts.located(exc.details)
        return _edit_page(form, draft, problems=problems, checked=True, not_saved=_not_saved_invalid(problems))
    except RuleTestsFailed as exc:
        failed = exc.details.get("failed", [])
        return _edit_page(form, draft, 422, failed=failed, tests=[], not_saved=_not_saved_tests(failed))
    flash(f"Version {created['number']} stored ({created['tests']['passed']} rule tests passed). "
          "Backtest it or activate it below.", "ok")
    return redirect(url_for("console.version", number=created["number"]))


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _not_saved_tests(failed: list[dict[str, Any]]) -> str:
    """`Not saved: 1 rule test failed (name, file:line)`: the first failure named, the text kept."""
    first = failed[0] if failed else {}
    where = f" ({first.get('name')}, {first.get('file')}:{first.get('line')})" if first else ""
    return f"Not saved: {_count(len(failed), 'rule test')} failed{where}. Your text is kept below."


def _not_saved_invalid(problems: list[RuleError]) -> str:
    """`Not saved: 1 error (file:line: message)`."""
    errors = [p for p in problems if p.severity == "error"] or problems
    first = f" ({errors[0].file}:{errors[0].line}: {errors[0].message})" if errors else ""
    return f"Not saved: {_count(len(errors), 'error')}{first}. Your text is kept below."


def _period(form: EditForm | BacktestForm) -> dict[str, Any]:
    return {"since": utc_input(form.since.data), "until": utc_input(form.until.data)}


def _backtest_draft(form: EditForm, draft: drafts.Draft) -> tuple[str, int] | Response:
    raw = {"files": draft.files(), **_period(form)}
    try:
        report, is_job = usecases.backtest(current_guard().db, raw, current_guard().rules.version)
    except RulesInvalid as exc:
        return _edit_page(form, draft, problems=drafts.located(exc.details), checked=True)
    except ValidationFailed as exc:
        return _edit_page(form, draft, 422, backtest_error=exc)
    if is_job:
        return redirect(url_for("console.backtest_job", job_id=report["job_id"]))
    return _edit_page(form, draft, report=report)


@bp.post("/console/rules/versions/<int:number>/backtest")
@admin_only
def backtest_version(number: int) -> tuple[str, int] | Response:
    """Replay recorded decisions against a stored version."""
    form = BacktestForm()
    raw = {"version": number, **_period(form)}
    report, is_job = usecases.backtest(current_guard().db, raw, current_guard().rules.version)
    if is_job:
        return redirect(url_for("console.backtest_job", job_id=report["job_id"]))
    return page("backtest.html", report=report, job=None, title=f"Backtest of version {number}")


@bp.get("/console/rules/backtests/<job_id>")
@admin_only
def backtest_job(job_id: str) -> tuple[str, int]:
    """A background backtest: its progress (the page reloads itself) and then its report."""
    job = get_job(current_guard().db, job_id)
    return page("backtest.html", report=job["report"], job=job, title="Backtest")


@bp.post("/console/rules/versions/<int:number>/activate")
@admin_only
def activate(number: int) -> Response:
    """Activate a stored version everywhere (validated and tested again first)."""
    form = ActivateForm()
    if not form.validate_on_submit():
        flash("Say why you activate this version.", "error")
        return redirect(url_for("console.version", number=number))
    if not form.unbacktested.data and _never_backtested(number):
        flash(f"Version {number} was not activated: it was never backtested. Backtest it first, or tick "
              "“activate without a backtest”.", "error")
        return redirect(url_for("console.version", number=number))
    try:
        done = usecases.activate_version(current_guard().db, {"version": number, "message": form.message.data},
                                         _actor())
    except GuardError as exc:
        flash(f"Version {number} was not activated: {exc.message}", "error")
        return redirect(url_for("console.version", number=number))
    flash(f"Version {done['version']} is active (it was {done['previous']}).", "ok")
    return redirect(url_for("console.rules"))


def _never_backtested(number: int) -> bool:
    latest = latest_of_version(current_guard().db, number)
    return latest is None or latest["status"] != "done"


@bp.post("/console/rules/rollback")
@admin_only
def rollback() -> Response:
    """Go back to the version that was active before the current one."""
    form = RollbackForm()
    if not form.validate_on_submit():
        flash("Say why you roll back.", "error")
        return redirect(url_for("console.rules"))
    try:
        done = usecases.rollback_version(current_guard().db, {"message": form.message.data}, _actor())
    except GuardError as exc:
        flash(f"Nothing was rolled back: {exc.message}", "error")
        return redirect(url_for("console.rules"))
    flash(f"Rolled back: version {done['version']} is active again (was {done['previous']}).", "ok")
    return redirect(url_for("console.rules"))
