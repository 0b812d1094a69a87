"""`python -m deploy.local ...` runs the command line of `deploy.local.cli`."""

from deploy.local.cli.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
