"""Building blocks with no conversation in them: crypto, keys, OTP, SMS, rate limits, working days, attachments, registrar import, staff authentication."""
