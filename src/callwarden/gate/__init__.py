"""The pre-dial compliance gate: one decision from every rule and every fact."""
