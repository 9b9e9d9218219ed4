"""Consent and its revocation (the ledger comes with the pre-dial gate)."""
