"""Every write of the feedback app. Topic modules: surveys (invite, send, answer, close the
loop), mentions (feedback from the channels, themes), ideas."""
