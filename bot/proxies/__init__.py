"""Proxies (代办): requests, the graduate's consent, staff review, acting for a graduate."""
