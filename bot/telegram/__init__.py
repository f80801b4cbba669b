"""The Telegram channel (python-telegram-bot as the Bot API client): see docs/telegram.md.

``render`` turns replies into Telegram messages, ``updates`` turns Telegram updates into
``Incoming``, ``channel`` runs polling, the webhook and sending.
"""
