"""The diploma record and electronic certificates (PDF, SM2 signature, ledger)."""
