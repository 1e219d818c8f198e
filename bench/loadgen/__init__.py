"""The load generator behind ``hadir bench load``: synthetic staff members that are real
aiortc clients, joining through the real signaling with real link tokens and sending
pre-encoded video, so that the generator's own encoding does not eat the machine."""
