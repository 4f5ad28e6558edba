"""The conversation core: engine, state and its Redis keys, messages, replies, effects, the unit of work."""
