"""The command's entry point, for ``python -m report`` and ``mean-image-report`` alike."""

import atexit
import os
import sys


def run() -> int:
    """Run the command line; the package has set the environment before any library loads.

    Once the command is done the process leaves without Python's own tear-down, which frees
    every loaded module one by one and takes numpy, Jinja and the rest 50 to 80 ms: as long as
    analysing a thousand images. Every output is written and closed by then, and the exit
    handlers that libraries registered still run first.
    """
    try:
        from .cli import main
    except KeyboardInterrupt:  # interrupted while the libraries were still loading
        return 130
    try:
        code = main()
    except BrokenPipeError:  # whoever read the output stopped, as "| head" does: nothing to say
        code = 1
    atexit._run_exitfuncs()  # what the interpreter's own exit would run first
    for stream in (sys.stdout, sys.stderr):  # None when the command was started without one
        try:
            if stream is not None:
                stream.flush()
        except OSError:  # a closed pipe: what was printed cannot be read anyway
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    sys.exit(run())
