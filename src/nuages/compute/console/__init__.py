"""VM consoles in the browser: tickets and the WebSocket bridge (issue 14.3)."""
