"""Channel-neutral conversation core: the engine, its state store, the flows and their services.

Nothing in this package imports Flask, wechatpy or the Alipay SDK: channels turn their payloads
into `bot.core.messages.Inbound` and render the `Reply` objects they get back.
"""
