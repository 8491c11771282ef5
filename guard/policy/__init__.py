"""The policy ring, the rule pipeline stage by stage: rule model (ast) -> YAML front end (parser, with
file:line:column) -> checks -> compiler (to durable-rules JSON) -> engine adapter (the only durable_rules user)
-> facts -> evaluation (Evaluator, Verdict); ruleset builds an evaluator from files, testing runs the tests
written inside them.

May import guard.situation (what a situation is, for facts and embedded tests), guard.core.
"""
