"""FCC Reassigned Numbers Database results: imports and the provider interface."""
