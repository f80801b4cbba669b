"""The Zalo Official Account channel (docs/zalo-oa.md): client, encrypted tokens, channel."""
