"""The tracker's one error type for failures a user causes.

Policy (the same for every StreamNest program): a failure the user can fix (a port
that is taken, an address this machine does not have, a chat database that cannot be
opened, TLS or join-key files that cannot be read) is a `TrackerError` whose message
is one sentence naming the thing and the reason. `streamnest-tracker` catches it with
`except* TrackerError` around `trio.run`, prints that one line on stderr and exits 1;
a mistake on the command line itself stays argparse's usage message and exit 2.
Anything else, including calling the service the wrong way from code, is a bug and
keeps its traceback; one met while serving a peer or ticking is contained to that peer
or that tick (tracker/containment.py), so that the tracker keeps serving the rest.
"""

from __future__ import annotations


class TrackerError(Exception):
    """Something the user asked the tracker for cannot work; the message says what."""
