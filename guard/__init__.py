"""Guard: a policy guard for outbound customer communications."""

__version__ = "0.1.0"
