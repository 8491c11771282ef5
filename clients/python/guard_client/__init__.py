"""Guard's Python client: ask before every send, screen campaigns, report events; fail-safe built in."""

from guard_client.client import GuardClient
from guard_client.models import DEFAULT_FAILSAFE, Decision, FailsafePolicy, GuardError, GuardUnavailable
from guard_client.proofs import verify_proof

__all__ = ["DEFAULT_FAILSAFE", "Decision", "FailsafePolicy", "GuardClient", "GuardError", "GuardUnavailable",
           "verify_proof"]
__version__ = "0.1.0"
