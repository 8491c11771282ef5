"""The console's forms (Flask-WTF: every POST carries the session's CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from guard.inbound import KINDS
from guard.policy.schemas import MAX_RULE_TEXT

MESSAGE = Length(max=2000)


class SignInForm(FlaskForm):
    """An API key of scope read (review) or admin (rules)."""

    key = PasswordField("API key", validators=[DataRequired(message="Paste an API key."), Length(max=500)])


class SignOutForm(FlaskForm):
    """Sign out (a form so that no other site can sign a reviewer out)."""


class EditForm(FlaskForm):
    """A rule file being edited, and what to do with it."""

    text = TextAreaField("Rule file", validators=[Length(max=MAX_RULE_TEXT)])
    message = StringField("Why (the version's message)", validators=[Optional(), MESSAGE])
    since = StringField("Backtest from (UTC)", validators=[Optional()])
    until = StringField("until (UTC)", validators=[Optional()])
    check = SubmitField("Validate")
    test = SubmitField("Run tests")
    backtest = SubmitField("Backtest")
    save = SubmitField("Save as new version")


class ActivateForm(FlaskForm):
    """Activate a stored version (one never backtested only when the admin says so)."""

    message = StringField("Why", validators=[DataRequired(message="Say why."), MESSAGE])
    unbacktested = BooleanField("Activate without a backtest")


class RollbackForm(FlaskForm):
    """Go back to the previously active version."""

    message = StringField("Why", validators=[DataRequired(message="Say why."), MESSAGE])


class BacktestForm(FlaskForm):
    """Backtest a stored version over a period of recorded decisions."""

    since = StringField("From (UTC)", validators=[Optional()])
    until = StringField("Until (UTC)", validators=[Optional()])


class SourceForm(FlaskForm):
    """Add a vendor webhook source (the use case validates the fields; the secret is never shown again)."""

    name = StringField("Name", validators=[DataRequired(message="Name the source."), Length(max=64)])
    kind = SelectField("Kind", choices=sorted(KINDS))
    secret = PasswordField("Signing secret", validators=[DataRequired(message="Paste the vendor's secret."),
                                                         Length(max=1000)])
    customer_field = StringField("Customer field (optional)", validators=[Optional(), Length(max=200)])


class RemoveSourceForm(FlaskForm):
    """Remove a source (a form, so that no other site can)."""


class SubscriptionForm(FlaskForm):
    """Subscribe a receiver to outbound webhooks (the use case validates the fields)."""

    url = StringField("Receiver URL (https://…)", validators=[DataRequired(message="Give the receiver's URL."),
                                                             Length(max=2000)])
    events = StringField("Event types (separated by spaces)",
                         validators=[DataRequired(message="Name at least one event type, e.g. care.requested."),
                                     Length(max=2000)])
    secret = PasswordField("Signing secret (optional: whsec_…; Guard makes one when empty)",
                           validators=[Optional(), Length(max=200)])


class PlainForm(FlaskForm):
    """A button that changes something (a form, so that no other site can press it)."""
