"""The desktop app: a Tkinter window around the same Peer the command line runs."""
