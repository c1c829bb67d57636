"""Peer connections and media for the specialist (built in the WebRTC issue)."""
