"""Facts about numbers from data sources: line types and customer locations."""
