"""The console screens: one module per screen or view, plus the loaded case state."""
