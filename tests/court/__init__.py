"""Court dates: hearings and video-link appointments, end to end."""
