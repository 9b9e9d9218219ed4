"""Call history: attempts, outcomes, reservations, abandonment rates."""
