"""Widgets the screens are built from: the virtual table and its titled pane."""
