"""What a channel's API may answer when we ask it for something on a user's behalf."""


class ChannelRefused(Exception):
    """The channel refused what the user gave us (an invalid or used code, a bad signature)."""


class ChannelUnavailable(Exception):
    """The channel could not be reached or answered in a way we cannot use (try again later)."""
