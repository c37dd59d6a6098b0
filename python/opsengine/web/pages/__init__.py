"""Dashboard page controllers: one module per page group; each validates, authorises and
calls the engine's services (``engine.<domain>``) or the named queries, then renders."""
