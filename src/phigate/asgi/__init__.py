"""ASGI edge: the public gateway application, the admin application, listeners and the node runtime."""
