"""The chat channels on the wire: WeChat Official Account, WeChat mini-program API, Alipay."""
