"""Admin use cases over the ports (no HTML): vendors, clients, keys, reviews."""
