"""Model versions on the stream: arms, rollout state, decisions, control, admin."""
