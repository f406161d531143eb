"""Print simulated GPS NMEA 0183 sentences (from nmeasim) to standard output, as fast as it can.

Serve them on a TCP port with socat, one client per run::

    socat TCP-LISTEN:10110,bind=127.0.0.1,reuseaddr EXEC:"python examples/nmea_source.py"

``--endings mixed`` ends sentences with CR LF or a bare LF at random, as a sloppy device does;
``--copy FILE`` writes the same sentences to FILE, one per line, for comparison.
"""

from __future__ import annotations

import argparse
import datetime
import random
import sys

from nmeasim.simulator import Simulator  # type: ignore[import-untyped]

_ENDINGS = {"crlf": (b"\r\n",), "lf": (b"\n",), "mixed": (b"\r\n", b"\n")}


def sentences(seconds: int, seed: int) -> list[str]:
    """``seconds`` of simulated receiver output: 9 sentences (GGA, GLL, GSA, 3 GSV, RMC, VTG,
    ZDA) per second, reproducible for a given ``seed``."""
    random.seed(seed)  # nmeasim draws from the global generator
    simulator = Simulator()
    receiver = simulator.gps
    receiver.date_time = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    receiver.lat, receiver.lon = 51.4779, -0.0015
    receiver.kph, receiver.heading = 42.0, 90.0
    return list(simulator.get_output(seconds))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="simulated seconds (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--endings", choices=sorted(_ENDINGS), default="crlf")
    parser.add_argument("--copy", metavar="FILE", help="also write the sentences to FILE")
    args = parser.parse_args(argv)

    lines = sentences(args.seconds, args.seed)
    if args.copy:
        with open(args.copy, "w", encoding="ascii") as copy:
            copy.write("".join(line + "\n" for line in lines))
    endings = _ENDINGS[args.endings]
    rng = random.Random(args.seed)
    output = sys.stdout.buffer
    for line in lines:
        output.write(line.encode("ascii") + rng.choice(endings))
    output.flush()


if __name__ == "__main__":
    main()
