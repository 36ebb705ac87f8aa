"""The Faust adapter: the agent, its tables and codecs, start-up and shutdown."""
