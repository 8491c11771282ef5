"""The overview: what Guard decided lately, by outcome and by rule, and which campaigns it stopped most."""

from __future__ import annotations

from flask import request

from guard.core.vocabulary import OUTCOMES
from guard.decisions import projector, stats
from guard.web.console.blueprint import bp
from guard.web.console.charts import colors_for, legend, stacked_bars
from guard.web.console.views.common import OUTCOME_COLORS, page
from guard.web.shared.context import current_guard


@bp.get("/console")
@bp.get("/console/")
def overview() -> tuple[str, int]:
    """Charts of decisions over the last 24 h, 7 d or 30 d."""
    period = request.args.get("period", "24h")
    if period not in stats.PERIODS:
        period = "24h"
    db = current_guard().db
    lag = projector.lag(db)  # read before the counts: they are at least as new as it says
    with db.sessions() as session:
        found = stats.overview(session, period)
    outcome_series = {o: found["outcomes"][o] for o in OUTCOMES if o in found["outcomes"]}
    outcome_colors = colors_for(list(outcome_series), OUTCOME_COLORS)
    rule_colors = colors_for(list(found["rules"]))
    return page(
        "overview.html", stats=found, periods=list(stats.PERIODS), period=period, projection=lag,
        outcome_chart=stacked_bars(found["buckets"], outcome_series, outcome_colors, found["unit"],
                                   "Decisions over time by outcome"),
        outcome_legend=legend(outcome_series, outcome_colors),
        rule_chart=stacked_bars(found["buckets"], found["rules"], rule_colors, found["unit"],
                                "Decisions over time by winning rule"),
        rule_legend=legend(found["rules"], rule_colors),
    )
