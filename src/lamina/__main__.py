"""`python -m lamina`: the CLI."""

from lamina.cli.main import main

if __name__ == "__main__":
    main()
