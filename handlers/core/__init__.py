"""The machinery every journey uses: events, routing, the per-update runner, texts."""
