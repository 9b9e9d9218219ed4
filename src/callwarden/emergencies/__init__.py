"""Declared states of emergency and seller registrations: jurisdiction facts a user records."""
