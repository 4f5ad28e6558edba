"""Public pages: the certificate verification page, PDF downloads, health checks."""
