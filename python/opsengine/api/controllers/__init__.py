"""One module per domain: each validates input, checks the role, and calls that domain's service."""
