"""The web UI: server-rendered pages for marketers and sales reps."""
