"""Court dates: hearings and video-link appointments, their reminders and deadlines."""
