"""Traffic guard and input safety: rate limits, IP rules, request validation, payload inspection."""
