"""Identity binding: consent, name, ID number, student number, the SMS second factor."""
