"""What a channel's API may answer when we ask it for something on a user's behalf.

Their messages are logged, so they hold error codes and exception names only, never what the
channel returned about the user (a phone number, an openid, a token)."""


class ChannelRefused(Exception):
    """The channel refused what the user gave us (an invalid or used code, a bad signature)."""


class ChannelUnavailable(Exception):
    """The channel could not be reached or answered in a way we cannot use (try again later)."""
