"""The ids of the two seed hunts (rules/exchange-servers-alerts.yaml, owa-mailbox-export.yaml),
for tests that look their runs up: the console itself knows no hunt by id."""
HUNT_A = "84026aa0-7020-45d0-9f85-d526e43de2ab"  # Exchange servers and their alerts
HUNT_B = "a523786c-8382-4029-80e9-f1a7ecd067c1"  # suspect mailbox export on OWA
