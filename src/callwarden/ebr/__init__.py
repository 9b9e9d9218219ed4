"""Established business relationships: the events that exempt a seller's calls from DNC lists."""
